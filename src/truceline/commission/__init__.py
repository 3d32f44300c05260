"""commission stage."""
