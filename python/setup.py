"""pip install ./python — the flsentry Python package (pure Python, ctypes).

Offline: pip builds it with the setuptools of the environment (in a venv made
with --system-site-packages, Debian's python3-setuptools and python3-wheel);
there is deliberately no pyproject.toml, whose build isolation would fetch
setuptools from an index. aggfilter.h is copied into the package when built
from the source tree, so decision flags are named from the header itself.
"""
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
HEADER = HERE.parent / "host_api" / "aggfilter.h"


class BuildWithHeader(build_py):
    def run(self):
        super().run()
        if HEADER.is_file():
            target = Path(self.build_lib) / "flsentry" / "aggfilter.h"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(HEADER, target)


setup(
    name="flsentry",
    version="0.1.0",
    description="flsentry aggregation filter for federated learning: ctypes binding and Flower strategy wrapper",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    packages=["flsentry"],
    package_data={"flsentry": ["py.typed"]},
    python_requires=">=3.9",
    install_requires=["numpy"],
    extras_require={"flower": ["flwr>=1.5,<2"]},
    cmdclass={"build_py": BuildWithHeader},
    zip_safe=False,
)
