"""The device bar: choose a port, connect, interrogate, cancel, and see the link state."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QWidget,
)

#: The chooser's last entry: type any port by hand.
OTHER_PORT = "__other__"


@dataclass(frozen=True)
class PortChoice:
    """One entry of the port chooser: a pyserial URL and what to call it."""

    url: str
    label: str
    detail: str = ""


class DeviceBar(QWidget):
    """Port chooser and link controls. Emits intents; the main window does the work."""

    refresh_requested = Signal()
    connect_requested = Signal(str)
    disconnect_requested = Signal()
    interrogate_requested = Signal()
    cancel_requested = Signal()
    other_port_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("deviceBar")
        self.port_combo = QComboBox()
        self.port_combo.setAccessibleName("Pump programmer port")
        self.port_combo.setMinimumContentsLength(24)
        self.port_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.setToolTip("Look for programmer ports again")
        self.connect_button = QPushButton("&Connect")
        self.connect_button.setAccessibleName("Connect to the pump programmer")
        self.interrogate_button = QPushButton("&Interrogate")
        self.interrogate_button.setObjectName("primary")
        self.interrogate_button.setToolTip("Read the pump now (Ctrl+I)")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop the current pump operation (Esc)")
        self.state_label = QLabel()
        self.state_label.setObjectName("linkState")
        self.state_label.setAccessibleName("Link state")
        self.state_label.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        port_label = QLabel("&Port")
        port_label.setBuddy(self.port_combo)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 6)
        layout.addWidget(port_label)
        layout.addWidget(self.port_combo, 1)
        layout.addWidget(self.refresh_button)
        layout.addWidget(self.connect_button)
        layout.addWidget(self.interrogate_button)
        layout.addWidget(self.cancel_button)
        layout.addWidget(self.state_label, 2)

        self.refresh_button.clicked.connect(self.refresh_requested)
        self.connect_button.clicked.connect(self._on_connect_clicked)
        self.interrogate_button.clicked.connect(self.interrogate_requested)
        self.cancel_button.clicked.connect(self.cancel_requested)
        self._connected = False
        self.set_state(connected=False, busy=False, text="Not connected")

    def set_ports(self, ports: list[PortChoice], preferred_url: str | None = None) -> None:
        """Fill the chooser; the last good port (``preferred_url``) goes first. The choice
        made stays chosen (a port, or Other port...) when it is still offered."""
        current = self.port_combo.currentData() or preferred_url
        ordered = sorted(ports, key=lambda p: 0 if p.url == preferred_url else 1)
        self.port_combo.clear()
        for port in ordered:
            self.port_combo.addItem(port.label, port.url)
            index = self.port_combo.count() - 1
            self.port_combo.setItemData(index, port.detail or port.url, role=3)  # tooltip
        self.port_combo.addItem("Other port...", OTHER_PORT)
        self.port_combo.setItemData(
            self.port_combo.count() - 1,
            "Type any port: /dev/ttyUSB0, COM3, socket://host:port, rfc2217://host:port",
            role=3,
        )
        index = self.port_combo.findData(current) if current else -1
        self.port_combo.setCurrentIndex(max(index, 0))

    def current_url(self) -> str | None:
        data = self.port_combo.currentData()
        return str(data) if data and data != OTHER_PORT else None

    def _on_connect_clicked(self) -> None:
        if self._connected:
            self.disconnect_requested.emit()
            return
        if self.port_combo.currentData() == OTHER_PORT:
            self.other_port_requested.emit()
            return
        url = self.current_url()
        if url:
            self.connect_requested.emit(url)

    def set_state(self, *, connected: bool, busy: bool, text: str, saving: bool = False) -> None:
        """``busy``: a pump job runs (Cancel stops it); ``saving``: the last interrogation
        is still being saved, so another cannot start yet."""
        self._connected = connected
        self.connect_button.setText("&Disconnect" if connected else "&Connect")
        self.connect_button.setEnabled(not busy)
        self.port_combo.setEnabled(not connected and not busy)
        self.refresh_button.setEnabled(not connected and not busy)
        self.interrogate_button.setEnabled(connected and not busy and not saving)
        self.cancel_button.setEnabled(busy)
        self.state_label.setText(text)
        self.state_label.setProperty("connected", connected)
        self.state_label.style().unpolish(self.state_label)
        self.state_label.style().polish(self.state_label)
