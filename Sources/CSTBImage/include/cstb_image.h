// A narrow C interface to stb_image (Debian's libstb-dev header), so Swift sees four small
// functions instead of the whole single-file library and its configuration macros.
#ifndef ALIGNCL_CSTB_IMAGE_H
#define ALIGNCL_CSTB_IMAGE_H

#pragma clang assume_nonnull begin

/// Reads only the header of a PNG, JPEG or BMP image in `bytes[0..<length]`: no pixels are
/// decoded, so callers can reject oversized images before paying for them.
/// Returns 1 and sets `width`, `height` and `channels` (as stored in the file) on success,
/// 0 on failure (unknown format or a corrupt header; see `aligncl_image_failure`).
int aligncl_image_info(const unsigned char *bytes, int length, int *width, int *height, int *channels);

/// Decodes the image to 8-bit RGB (grey is expanded, alpha dropped), row-major, 3 bytes per
/// pixel, `width * height * 3` bytes. Returns NULL on failure (see `aligncl_image_failure`).
/// Release a non-NULL result with `aligncl_image_free`.
unsigned char *_Nullable aligncl_image_decode_rgb(const unsigned char *bytes, int length, int *width, int *height);

/// Frees a buffer returned by `aligncl_image_decode_rgb` (NULL is ignored).
void aligncl_image_free(void *_Nullable pixels);

/// Why the last failed call on this thread failed, as a short static string, or NULL if
/// there is no reason recorded. Only meaningful right after a failure on the same thread.
const char *_Nullable aligncl_image_failure(void);

#pragma clang assume_nonnull end

#endif
