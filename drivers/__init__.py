"""The pump link: protocol, serial session and simulated pump. Imports no Qt.

Importing this package registers :mod:`drivers.urlhandler` with pyserial, so
``serial.serial_for_url("simpump://...")`` opens the in-process simulated pump
(:mod:`drivers.urlhandler.protocol_simpump`).
"""

import serial

#: pyserial imports ``<package>.protocol_<scheme>`` from each package in this list.
URL_HANDLER_PACKAGE = "drivers.urlhandler"
if URL_HANDLER_PACKAGE not in serial.protocol_handler_packages:
    serial.protocol_handler_packages.append(URL_HANDLER_PACKAGE)
