"""The signal layer: every sample the appliance hears or says passes through here.

Modules, one signal function each (the SpanDSP shape, our own code):

- :mod:`~hotline.dsp.levels`: dBm0 and the linear scale of 16-bit samples.
- :mod:`~hotline.dsp.g711`: μ-law and A-law, bit-exact with ITU-T G.191.
- :mod:`~hotline.dsp.tones` / :mod:`~hotline.dsp.toneplans`: tone generators and the
  call-progress plans they and the detector share, as data.
- :mod:`~hotline.dsp.dtmf`: the Goertzel DTMF receiver, batched over channels.
- :mod:`~hotline.dsp.progress`: call-progress tones, silence and voice energy.
- :mod:`~hotline.dsp.callerid`: FSK (Bell 202, V.23) and DTMF caller ID.
- :mod:`~hotline.dsp.linemodel`: a telephone line (gain, noise, codec, echo, frequency offset).
- :mod:`~hotline.dsp.audiofile`: reading WAV and raw files into 8 kHz samples.

Per-sample work is never a Python loop per channel: every receiver takes an array of shape
``(channels, samples)`` and works on all channels at once.
"""

SAMPLE_RATE_HZ = 8000
