"""Card template and static text for the dataset card (package data)."""
