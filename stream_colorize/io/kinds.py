"""Which file names are films and which are photos (by suffix, lower case)."""

VIDEO_SUFFIXES = {".mp4", ".mkv", ".mov", ".avi", ".webm", ".ts", ".m2ts", ".mts", ".m4v", ".mpg", ".mpeg",
                  ".flv", ".ogv", ".dv", ".vob", ".wmv", ".3gp"}  # fmt: skip
# Photos read (OpenCV 4.14, 5.0 and 5.1 all decode each of these, GIF's first frame included).
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".jp2", ".pgm", ".ppm", ".pbm", ".gif"}
GRAY_ONLY_SUFFIXES = {".pgm", ".pbm"}  # read, but they cannot hold a colour result
PHOTO_OUTPUT_SUFFIXES = IMAGE_SUFFIXES - GRAY_ONLY_SUFFIXES  # what a colour photo can be written as
MULTI_FRAME_SUFFIXES = {".gif", ".tif", ".tiff"}  # may hold several frames or pages
