"""Packaging hook: wheels and non-editable installs carry the top-level presets/ and native/ folders inside the
package (ganctl/presets, ganctl/native), where ganctl.config.load.presets_dir and ganctl.ops.loader.native_dir look
when there is no checkout beside the package. Everything else is configured in pyproject.toml."""

from pathlib import Path
import shutil

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
# folder -> file patterns shipped with the package
SHIPPED = {"presets": ("*.yaml",), "native": ("*.cpp", "*.cu", "*.cuh", "*.h")}


class BuildPyWithData(build_py):
    def run(self):
        super().run()
        if self.editable_mode:  # an editable install reads the checkout's folders directly
            return
        for folder, patterns in SHIPPED.items():
            dest = Path(self.build_lib) / "ganctl" / folder
            dest.mkdir(parents=True, exist_ok=True)
            for pattern in patterns:
                for src in sorted((ROOT / folder).glob(pattern)):
                    shutil.copy2(src, dest / src.name)


setup(cmdclass={"build_py": BuildPyWithData})
