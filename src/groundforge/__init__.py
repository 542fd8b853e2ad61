"""groundforge: labelled synthetic images of products in factory scenes."""

__version__ = "0.1.0"
