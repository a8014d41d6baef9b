"""The package list: pyproject.toml cannot both find packages and map one to another folder.

The translation catalogues live at the top-level locales/ (the project's layout) and install
inside the package as liaison/locales/, so that a non-editable install finds them next to the
code (liaison.i18n.LOCALES_DIR). Everything else is configured in pyproject.toml.
"""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["liaison*", "crypto*"]), "liaison.locales"],
    package_dir={"liaison.locales": "locales"},
)
