# SPDX-License-Identifier: Apache-2.0
# Unit tests of lib/matter: onboarding payload and SPAKE2+ verifier against the Matter
# SDK's vectors (tests/vectors/matter-sdk-*-vectors.txt, found through WRIT_SRC), and the
# factory-data encoders / WFD1 parser / settings parser / labels with garbage inputs.
writ_test(test_matter_payload
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_matter_payload.c
  LIBS writ_matter
  LABELS chip)

writ_test(test_matter_factory
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_matter_factory.c
  LIBS writ_matter
  LABELS chip)
