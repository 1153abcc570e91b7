"""The pump link: protocol, serial session and simulated pump. Imports no Qt."""

import serial

serial.protocol_handler_packages.append("drivers")  # simpump:// (drivers/protocol_simpump.py)
