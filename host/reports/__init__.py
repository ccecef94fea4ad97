"""What leaves the host as files for people and other systems: CSV and Excel exports."""
