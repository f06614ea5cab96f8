from __future__ import annotations

import pytest

from musicsteer.render.synth import DEFAULT_SOUNDFONT

needs_soundfont = pytest.mark.skipif(
    not DEFAULT_SOUNDFONT.is_file(), reason="apt-get install fluidsynth timgm6mb-soundfont"
)
