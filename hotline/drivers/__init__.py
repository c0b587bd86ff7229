"""Line drivers: the only code that talks to telephony hardware (or, for ``sim``, pretends to).

Every board implements :class:`hotline.drivers.base.Board`: 20 ms frames of 16-bit 8 kHz audio
in and out for all its lines at once, line events up, line commands down.
"""
