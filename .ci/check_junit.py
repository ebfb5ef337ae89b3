"""Validates perfgate's JUnit XML with an independent consumer (junitparser).

Usage: check_junit.py FILE EXPECTED_TESTS
Checks that the file parses, has one suite with EXPECTED_TESTS testcases, that every testcase
has a name, classname, file and line, and that the suite's counters match its testcases.
"""
import sys

from junitparser import Error, Failure, JUnitXml, Skipped

path, expected = sys.argv[1], int(sys.argv[2])
xml = JUnitXml.fromfile(path)
suites = list(xml)
assert len(suites) == 1, f"expected one testsuite, found {len(suites)}"
suite = suites[0]
cases = list(suite)
assert len(cases) == expected, f"expected {expected} testcases, found {len(cases)}"
failures = 0
for case in cases:
    assert case.name and case.classname, f"testcase without name or classname: {case}"
    assert case._elem.get("file") and case._elem.get("line", "").isdigit(), f"{case.name}: no file/line"
    failures += sum(isinstance(r, (Failure, Error)) for r in case.result)
assert suite.tests == len(cases), f"suite says tests={suite.tests}, has {len(cases)}"
assert suite.failures == failures, f"suite says failures={suite.failures}, counted {failures}"
assert suite.time and suite.time > 0, f"suite time {suite.time!r}: consumers would show 0 s"
assert suite._elem.get("timestamp") and suite._elem.get("hostname"), "suite without timestamp or hostname"
props = {p.name: p.value for p in suite.properties()}
for key in ("target", "users", "seed", "perfgate.version"):
    assert key in props, f"property {key} missing"
print(f"junitparser: {path}: {len(cases)} testcases, {failures} failures, {len(props)} properties: OK")
