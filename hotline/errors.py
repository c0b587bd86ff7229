"""The one exception base of hotline.

Every error hotline raises on purpose derives from :class:`HotlineError`, so a boundary (a CLI's
``main``, the control socket, the media loop) can catch ours once and let programming errors
through. Errors carry the context that names what was wrong and where, and chain the cause with
``raise ... from exc``.
"""


class HotlineError(Exception):
    """Base of every error hotline raises on purpose."""


class AudioFileError(HotlineError):
    """An audio file cannot be read: missing, unreadable, corrupt or of an unsupported format."""
