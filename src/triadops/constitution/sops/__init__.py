"""Standard operating procedures as templates: the shipped ones and the user's, validated."""

from triadops.constitution.sops.catalogue import (
    BUILTIN,
    USER_FOLDER,
    SopCatalogue,
    builtin_templates,
    load_catalogue,
    parse_template,
)

__all__ = [
    "BUILTIN",
    "USER_FOLDER",
    "SopCatalogue",
    "builtin_templates",
    "load_catalogue",
    "parse_template",
]
