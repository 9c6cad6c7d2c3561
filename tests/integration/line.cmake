# SPDX-License-Identifier: Apache-2.0
# The line end to end: writ-station + writ-factory + writ-hsmd (SoftHSM) + writ-devsim
# farms on loopback (line_e2e), and the line's failure handling (line_faults); helpers in
# line_lib.sh; two writs on two lines in parallel (line_writs); a station that resumes
# what an earlier run left, enrolment without the code on argv (line_resume). Label "line".
foreach(t e2e faults writs resume)
  writ_shell_test(line_${t}
    SCRIPT ${CMAKE_SOURCE_DIR}/tests/integration/line_${t}.sh
    LABELS line
    TIMEOUT 900)
endforeach()
