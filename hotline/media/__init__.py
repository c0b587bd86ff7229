"""The media loop: every 20 ms, all channels' audio at once through DSP, playback, recording and bridges."""
