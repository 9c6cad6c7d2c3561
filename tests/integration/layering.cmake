writ_shell_test(layering SCRIPT ${CMAKE_SOURCE_DIR}/tests/integration/layering.sh LABELS hsm;lint)
