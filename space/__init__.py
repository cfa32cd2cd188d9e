"""The declarative design space: variables, Optuna / Ray Tune exports, encodings, repair."""

from space.design_space import Column, DesignSpace, SpaceError
from space.options import GLOBALS, SpaceOptions
from space.repair import repair

__all__ = ["Column", "DesignSpace", "GLOBALS", "SpaceError", "SpaceOptions", "repair"]
