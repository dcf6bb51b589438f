"""The book layer: prose, figures and tables of the chapters (nothing imports it)."""
