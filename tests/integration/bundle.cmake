# SPDX-License-Identifier: Apache-2.0
# Issue 9, the factory bundle (label bundle: `ctest -L bundle`).
# bundle_install: the packages installed with apt into a debootstrapped Debian 12 root,
# the one enrol command and a device provisioned there, against a writ-cloud on the
# host (root, debootstrap and Debian's mirror; the base root is cached under
# build/bundle/). nosan: the packages carry this build's binaries, and a sanitizer
# build's need the sanitizer runtimes the clean root does not have. 77 = skipped.
add_test(NAME bundle_install COMMAND bash ${CMAKE_SOURCE_DIR}/tests/integration/bundle_install.sh)
set_tests_properties(bundle_install PROPERTIES LABELS "bundle;nosan" TIMEOUT 600 SKIP_RETURN_CODE 77
  ENVIRONMENT "WRIT_SRC=${CMAKE_SOURCE_DIR};WRIT_BIN=${CMAKE_BINARY_DIR}/bin")
# bundle_doctor: writ-factory doctor on a real loopback site, healthy and each broken
# condition (fast; also under the sanitizers).
writ_shell_test(bundle_doctor SCRIPT ${CMAKE_SOURCE_DIR}/tests/integration/bundle_doctor.sh LABELS bundle TIMEOUT 300)
# bundle_packages: the .debs' control files, Depends (checked against objdump + dpkg -S),
# conffiles, units and maintainer scripts, without installing them (fast, no root).
# (normal build only: it packs and inspects programs, sanitizers add nothing to that)
writ_shell_test(bundle_packages SCRIPT ${CMAKE_SOURCE_DIR}/tests/integration/bundle_packages.sh LABELS "bundle;nosan" TIMEOUT 300)
# Both build the packages into the same folder: never at once.
set_tests_properties(bundle_install bundle_packages PROPERTIES RESOURCE_LOCK writ_packages)
