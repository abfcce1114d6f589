#!/usr/bin/env python3
"""Prints every failed test in the .trx files under a directory, with its message and the top of its stack.

CI shows only the tail of the log, so the names and reasons of failures are printed last, next to the totals.
"""
import glob
import os
import sys
import xml.etree.ElementTree as ET

NS = {"t": "http://microsoft.com/schemas/VisualStudio/TeamTest/2010"}
MAX_MESSAGE = 1500
STACK_LINES = 6


def main(results_dir: str) -> int:
    failures = 0
    for path in sorted(glob.glob(os.path.join(results_dir, "**", "*.trx"), recursive=True)):
        try:
            root = ET.parse(path).getroot()
        except ET.ParseError as error:
            print(f"unreadable {path}: {error}")
            continue
        for result in root.iterfind(".//t:UnitTestResult", NS):
            if result.get("outcome") not in ("Failed", "Error", "Timeout", "Aborted"):
                continue
            failures += 1
            print(f"FAILED {result.get('testName')} ({result.get('duration')})")
            message = result.findtext("t:Output/t:ErrorInfo/t:Message", default="", namespaces=NS).strip()
            stack = result.findtext("t:Output/t:ErrorInfo/t:StackTrace", default="", namespaces=NS).strip()
            if message:
                print("  " + message[:MAX_MESSAGE].replace("\n", "\n  "))
            for line in stack.splitlines()[:STACK_LINES]:
                print("    " + line.strip())
    return failures


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "artifacts/test-results")
