"""Calls: one coroutine per call, the operations a handler awaits, and the line states around them."""
