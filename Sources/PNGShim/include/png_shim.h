// unclip's libpng layer: every libpng call happens here, inside setjmp, so a malformed PNG becomes an
// error message instead of a longjmp through Swift frames.
#ifndef UNCLIP_PNG_SHIM_H
#define UNCLIP_PNG_SHIM_H
#include <stddef.h>
#include <stdint.h>

/// Largest accepted width or height.
#define UNCLIP_PNG_MAX_DIM 16384
/// Most memory libpng may allocate for one ancillary chunk (text, ICC profile): bounds decompression bombs.
#define UNCLIP_PNG_MAX_CHUNK_BYTES (8u << 20)

/// Decodes a PNG of any common kind (gray, gray+alpha, palette, RGB, RGBA; 1–16 bits; interlaced)
/// to 8-bit RGBA. On success returns 0 and sets *pixels (free with unclip_png_free), *width, *height,
/// and *texts: all text chunks as "key\0value\0key\0value\0…" (*texts_len bytes; free with unclip_png_free).
/// On failure returns -1 and writes a message into err.
/// An image over `max_pixels` (width × height, read from IHDR) is refused before any pixel memory is allocated:
/// the decoded RGBA buffer is at most 4 × max_pixels bytes.
int unclip_png_decode(const uint8_t *data, size_t len, uint64_t max_pixels, uint32_t *width, uint32_t *height,
                      uint8_t **pixels, char **texts, size_t *texts_len, char *err, size_t err_len);

/// Encodes 8-bit RGB (channels 3) or RGBA (channels 4) with text chunks (tEXt for Latin-1-safe ASCII,
/// iTXt for UTF-8). On success returns 0 and sets *out (free with unclip_png_free) and *out_len.
int unclip_png_encode(uint32_t width, uint32_t height, int channels, const uint8_t *pixels, int n_text,
                      const char *const *keys, const char *const *values, uint8_t **out, size_t *out_len,
                      char *err, size_t err_len);

void unclip_png_free(void *p);
#endif
