"""Which file names are films and which are photos (by suffix, lower case)."""

VIDEO_SUFFIXES = {".mp4", ".mkv", ".mov", ".avi", ".webm", ".ts", ".m2ts", ".mts", ".m4v", ".mpg", ".mpeg",
                  ".flv", ".ogv", ".dv", ".vob", ".wmv", ".3gp"}  # fmt: skip
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".jp2", ".pgm", ".ppm", ".pbm"}
