"""Spreadsheet exports hold hostile callers: no formula runs, no separator splits a cell."""

from __future__ import annotations

import csv
import dataclasses
import io

from openpyxl import load_workbook
from test_vm_exports import played_record
from vmkit import STHLM

from voicemail.spreadsheets import to_excel_csv, to_xlsx


def test_hal10_spreadsheets_defuse_formulas_and_keep_separators_inside_cells() -> None:
    """A caller name `=HYPERLINK(…);x` stays one text cell in both spreadsheets; a control
    character becomes U+FFFD in the workbook (openpyxl refuses it); no personal id exists."""
    record = dataclasses.replace(
        played_record(), caller_name='=HYPERLINK("http://x";"y");\x0bz', summary="+SUM(A1)"
    )
    data = to_excel_csv([record], STHLM, {"anna.andersson": "Anna Andersson"})
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig")), delimiter=";"))
    row = dict(zip(rows[0], rows[1], strict=True))
    assert row["Uppringarens namn"].startswith("'=HYPERLINK(")
    assert row["Sammanfattning"] == "'+SUM(A1)" and len(rows[1]) == len(rows[0])
    sheet = load_workbook(io.BytesIO(to_xlsx([record], STHLM))).active
    assert sheet is not None
    values = list(sheet.iter_rows(values_only=True))[1]
    name = values[5]
    assert isinstance(name, str) and name.startswith("'=HYPERLINK(") and "\ufffd" in name
    assert values[2] == "anna.andersson"  # without names: the user id, never anything more
