# Fuzz the socket API decoder of writ-hsmd and the enrolment bundle verifier.
writ_fuzz(fuzz_hsmproto SOURCES ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_hsmproto.c LIBS writ_wire
          SEEDS ${CMAKE_SOURCE_DIR}/tests/fuzz/seeds/hsmproto)
