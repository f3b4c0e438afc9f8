"""The write stage: the consolidated workbook, the late list and the inspection list, the
report draft and the letters, feedback to units, the issues CSV, the expectation suite and
run.json (pipeline.outputs.write puts them in place)."""
