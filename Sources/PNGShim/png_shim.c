// libpng 1.6 classic API with setjmp error handling (libpng manual §III/§IV).
#include "png_shim.h"
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct { char *msg; size_t len; } err_ctx;
typedef struct { const uint8_t *data; size_t len, pos; } read_ctx;
typedef struct { uint8_t *data; size_t len, cap; int failed; } write_ctx;

static void on_error(png_structp png, png_const_charp message) {
    err_ctx *e = (err_ctx *)png_get_error_ptr(png);
    if (e && e->msg && e->len) snprintf(e->msg, e->len, "%s", message);
    png_longjmp(png, 1);
}
static void on_warning(png_structp png, png_const_charp message) { (void)png; (void)message; }

static void read_fn(png_structp png, png_bytep out, png_size_t n) {
    read_ctx *r = (read_ctx *)png_get_io_ptr(png);
    if (n > r->len - r->pos) png_error(png, "unexpected end of data (truncated PNG)");
    memcpy(out, r->data + r->pos, n);
    r->pos += n;
}

int unclip_png_decode(const uint8_t *data, size_t len, uint64_t max_pixels, uint32_t *width, uint32_t *height,
                      uint8_t **pixels, char **texts, size_t *texts_len, char *err, size_t err_len) {
    err_ctx ectx = {err, err_len};
    if (err && err_len) err[0] = 0;
    *pixels = NULL; *texts = NULL; *texts_len = 0;
    if (len < 8 || png_sig_cmp((png_const_bytep)data, 0, 8) != 0) {
        snprintf(err, err_len, "not a PNG file (bad signature)");
        return -1;
    }
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &ectx, on_error, on_warning);
    if (!png) { snprintf(err, err_len, "out of memory"); return -1; }
    png_infop info = png_create_info_struct(png);
    read_ctx rctx = {data, len, 0};
    uint8_t *volatile buf = NULL;
    png_bytep *volatile rows = NULL;
    char *volatile tbuf = NULL;
    if (!info || setjmp(png_jmpbuf(png))) {
        free(buf); free(rows); free(tbuf);
        png_destroy_read_struct(&png, info ? &info : NULL, NULL);
        if (err && err_len && !err[0]) snprintf(err, err_len, "malformed PNG");
        return -1;
    }
    // libpng's own bound only guards against absurd headers; the sizes we accept are checked below, with a message.
    png_set_user_limits(png, 1000000, 1000000);
    png_set_chunk_malloc_max(png, UNCLIP_PNG_MAX_CHUNK_BYTES);
    png_set_read_fn(png, &rctx, read_fn);
    png_read_info(png, info);
    png_uint_32 w, h;
    int depth, color, interlace;
    png_get_IHDR(png, info, &w, &h, &depth, &color, &interlace, NULL, NULL);
    char msg[160];
    if ((uint64_t)w * h > max_pixels) {
        snprintf(msg, sizeof msg, "image is %ux%u = %llu pixels, over the limit of %llu pixels", w, h,
                 (unsigned long long)w * h, (unsigned long long)max_pixels);
        png_error(png, msg);
    }
    if (w > UNCLIP_PNG_MAX_DIM || h > UNCLIP_PNG_MAX_DIM) {
        snprintf(msg, sizeof msg, "image is %ux%u, over the limit of %u pixels a side", w, h, UNCLIP_PNG_MAX_DIM);
        png_error(png, msg);
    }
    if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (color == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (png_get_valid(png, info, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(png);
    if (depth == 16) png_set_strip_16(png);  // high byte, as PIL does
    if (color == PNG_COLOR_TYPE_GRAY || color == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(png);
    if (!(color & PNG_COLOR_MASK_ALPHA) && !png_get_valid(png, info, PNG_INFO_tRNS))
        png_set_filler(png, 0xFF, PNG_FILLER_AFTER);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    if (png_get_rowbytes(png, info) != (size_t)w * 4) png_error(png, "unexpected row layout after conversion");
    buf = malloc((size_t)w * h * 4);
    rows = malloc(sizeof(png_bytep) * (h ? h : 1));
    if (!buf || !rows) png_error(png, "out of memory");
    for (png_uint_32 y = 0; y < h; y++) rows[y] = buf + (size_t)y * w * 4;
    png_read_image(png, rows);
    png_read_end(png, info);
    png_textp text = NULL;
    int n = png_get_text(png, info, &text, NULL);
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        size_t vlen = text[i].compression >= PNG_ITXT_COMPRESSION_NONE ? text[i].itxt_length : text[i].text_length;
        total += strlen(text[i].key) + 1 + vlen + 1;
    }
    if (total) {
        tbuf = malloc(total);
        if (!tbuf) png_error(png, "out of memory");
        size_t at = 0;
        for (int i = 0; i < n; i++) {
            size_t klen = strlen(text[i].key);
            size_t vlen = text[i].compression >= PNG_ITXT_COMPRESSION_NONE ? text[i].itxt_length : text[i].text_length;
            memcpy(tbuf + at, text[i].key, klen + 1); at += klen + 1;
            if (vlen) memcpy(tbuf + at, text[i].text, vlen);
            at += vlen; tbuf[at++] = 0;
        }
    }
    *width = w; *height = h; *pixels = buf; *texts = tbuf; *texts_len = total;
    free(rows);
    png_destroy_read_struct(&png, &info, NULL);
    return 0;
}

static void write_fn(png_structp png, png_bytep in, png_size_t n) {
    write_ctx *c = (write_ctx *)png_get_io_ptr(png);
    if (c->len + n > c->cap) {
        size_t cap = c->cap ? c->cap : 65536;
        while (cap < c->len + n) cap *= 2;
        uint8_t *d = realloc(c->data, cap);
        if (!d) png_error(png, "out of memory");
        c->data = d; c->cap = cap;
    }
    memcpy(c->data + c->len, in, n);
    c->len += n;
}
static void flush_fn(png_structp png) { (void)png; }

static int is_ascii(const char *s) {
    for (; *s; s++) if ((unsigned char)*s >= 0x80) return 0;
    return 1;
}

int unclip_png_encode(uint32_t width, uint32_t height, int channels, const uint8_t *pixels, int n_text,
                      const char *const *keys, const char *const *values, uint8_t **out, size_t *out_len,
                      char *err, size_t err_len) {
    err_ctx ectx = {err, err_len};
    if (err && err_len) err[0] = 0;
    *out = NULL; *out_len = 0;
    if (channels != 3 && channels != 4) { snprintf(err, err_len, "channels must be 3 or 4"); return -1; }
    if (width == 0 || height == 0 || width > UNCLIP_PNG_MAX_DIM || height > UNCLIP_PNG_MAX_DIM) {
        snprintf(err, err_len, "invalid image size %ux%u", width, height);
        return -1;
    }
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &ectx, on_error, on_warning);
    if (!png) { snprintf(err, err_len, "out of memory"); return -1; }
    png_infop info = png_create_info_struct(png);
    write_ctx wctx = {NULL, 0, 0, 0};
    png_textp volatile text = NULL;
    if (!info || setjmp(png_jmpbuf(png))) {
        free(wctx.data); free(text);
        png_destroy_write_struct(&png, info ? &info : NULL);
        if (err && err_len && !err[0]) snprintf(err, err_len, "PNG encoding failed");
        return -1;
    }
    png_set_write_fn(png, &wctx, write_fn, flush_fn);
    png_set_IHDR(png, info, width, height, 8, channels == 4 ? PNG_COLOR_TYPE_RGBA : PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (n_text > 0) {
        text = calloc((size_t)n_text, sizeof(png_text));
        if (!text) png_error(png, "out of memory");
        for (int i = 0; i < n_text; i++) {
            text[i].key = (png_charp)keys[i];
            text[i].text = (png_charp)values[i];
            if (is_ascii(values[i]) && is_ascii(keys[i])) {
                text[i].compression = PNG_TEXT_COMPRESSION_NONE;
                text[i].text_length = strlen(values[i]);
            } else {
                text[i].compression = PNG_ITXT_COMPRESSION_NONE;  // UTF-8 text needs iTXt
                text[i].itxt_length = strlen(values[i]);
                text[i].lang = NULL; text[i].lang_key = NULL;
            }
        }
        png_set_text(png, info, text, n_text);
    }
    png_write_info(png, info);
    size_t stride = (size_t)width * channels;
    for (uint32_t y = 0; y < height; y++) png_write_row(png, (png_const_bytep)(pixels + (size_t)y * stride));
    png_write_end(png, info);
    free(text);
    png_destroy_write_struct(&png, &info);
    *out = wctx.data; *out_len = wctx.len;
    return 0;
}

void unclip_png_free(void *p) { free(p); }
