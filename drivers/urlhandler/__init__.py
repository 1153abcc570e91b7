"""pyserial URL handlers for this project's own schemes (``simpump://``).

pyserial's ``serial_for_url`` looks up a scheme ``X`` as the module ``protocol_X`` inside
each package named in ``serial.protocol_handler_packages`` (its own ``serial.urlhandler``
first). Importing :mod:`drivers` adds this package to that list, so handlers live here and
nowhere else, as in pyserial's own layout.
"""
