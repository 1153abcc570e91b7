"""View > Lot search as a pharmacist uses it after a recall notice: product and lot in, every
recipient out, and the CSV the command line writes for the same lot."""

from __future__ import annotations

import csv
import io
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from itbconsole.cli import main as cli_main
from ui.lot_search_view import ANY_PRODUCT, LotSearchDialog
from ui.printouts_screenshots import demo_clinic


@pytest.fixture(scope="module")
def clinic(qapp: Any) -> Iterator[Any]:
    tmp = Path(tempfile.mkdtemp())
    service = demo_clinic(tmp)
    yield service
    service.store.close()
    shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture
def dialog(clinic: Any, qtbot: Any) -> LotSearchDialog:
    opened: list[int] = []
    found = LotSearchDialog(clinic, open_patient=opened.append)
    found.opened = opened  # type: ignore[attr-defined]
    qtbot.addWidget(found)
    return found


def a_refill(clinic: Any) -> Any:
    return clinic.refill_records()[-1]


def test_a_lot_finds_its_recipients_and_a_row_opens_the_patient(
    dialog: LotSearchDialog, clinic: Any
) -> None:
    record = a_refill(clinic)
    dialog.product.setCurrentText(record.refill.product)
    dialog.lot.setText(f"  {record.refill.lot.lower()} ")  # as typed from a notice
    found = dialog.search()
    expected = clinic.lot_recipients(record.refill.lot, record.refill.product)
    assert [r.refill.id for r in found] == [r.refill.id for r in expected]
    assert dialog.model.rowCount() == len(expected) >= 1
    columns = dialog.model.columns
    row = {columns[c]: dialog.model.index(0, c).data() for c in range(len(columns))}
    assert row["Patient"] == record.patient.display_name
    assert row["Lot"] == record.refill.lot and row["Pump"] == record.refill.pump_serial
    assert (
        f"with lot {record.refill.lot.lower()} of {record.refill.product}" in dialog.message.text()
    )
    assert dialog.export_button.isEnabled()
    dialog.table.doubleClicked.emit(dialog.model.index(0, 1))
    assert dialog.opened == [record.patient.id]  # type: ignore[attr-defined]


def test_no_lot_or_an_unknown_lot_says_so_and_offers_no_export(dialog: LotSearchDialog) -> None:
    dialog.lot.setText("   ")
    assert dialog.search() == []
    assert "Enter the lot" in dialog.message.text() and not dialog.export_button.isEnabled()
    dialog.lot.setText("NO-SUCH-LOT")
    dialog.product.setCurrentText(ANY_PRODUCT)
    assert dialog.search() == []
    assert dialog.message.text() == "No refill on record used lot NO-SUCH-LOT (any product)."
    assert dialog.model.rowCount() == 0 and not dialog.export_button.isEnabled()


def test_the_csv_is_the_one_the_command_writes_and_the_export_is_audited(
    dialog: LotSearchDialog, clinic: Any, tmp_path: Path
) -> None:
    record = a_refill(clinic)
    dialog.product.setCurrentText(record.refill.product)
    dialog.lot.setText(record.refill.lot)
    dialog.search()
    dialog.ask_export_path = lambda suggested: str(tmp_path / suggested)
    dialog.export_button.click()
    assert dialog.last_export == tmp_path / f"lot-{record.refill.lot}.csv"
    assert dialog.message.text().startswith(f"Exported {dialog.model.rowCount()} row(s)")
    (payload,) = clinic.store.db.execute(
        "SELECT payload FROM audit_log WHERE action = 'csv_exported' ORDER BY seq DESC LIMIT 1"
    ).fetchone()
    assert '"what":"lot"' in payload.replace(" ", "") and record.refill.lot in payload
    by_cli = tmp_path / "cli.csv"
    status = cli_main(
        [
            "export", "csv", "--what", "lot", "--lot", record.refill.lot,
            "--product", record.refill.product, "--out", str(by_cli),
            "--db", str(clinic.database_path),
        ]
    )  # fmt: skip
    assert status == 0
    assert dialog.last_export.read_bytes() == by_cli.read_bytes()
    text = dialog.last_export.read_bytes().decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["Lot"] for r in rows] == [record.refill.lot] * len(rows)
    assert rows[0]["Patient"] == record.patient.display_name
