writ_test(test_journal SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_journal.c LIBS writ_hsm LABELS hsm)
