"""Build hook: a wheel carries a copy of the checkout's config/ folder inside the engine package (engine/packaged_config/).

config/ sits at the top of the checkout, where integrators edit it, so it is no package of its
own; an engine installed from a wheel falls back to this copy (engine/config/locations.py).
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

#: The checkout's configuration folder.
CONFIG_DIR = Path(__file__).resolve().parent / "config"
#: Where the copy goes inside the built engine package.
PACKAGED_CONFIG = Path("engine") / "packaged_config"


class BuildWithConfig(build_py):
    """``build_py`` that also copies config/ into the engine package of the build."""

    def run(self):
        super().run()
        if not self.editable_mode:
            shutil.copytree(CONFIG_DIR, Path(self.build_lib) / PACKAGED_CONFIG, dirs_exist_ok=True)


setup(cmdclass={"build_py": BuildWithConfig})
