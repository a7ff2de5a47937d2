"""The compiled agreement kernel; everything else is in setup.cfg. Optional: without a C compiler the
package installs anyway and `ximagenet12.masks.metrics` takes its NumPy path (same numbers, slower)."""

from setuptools import Extension, setup

setup(ext_modules=[Extension("ximagenet12.masks._agreement", ["ximagenet12/masks/_agreement.c"], optional=True)])
