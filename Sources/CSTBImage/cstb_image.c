// The stb_image implementation, compiled here rather than linked from libstb.so: only the
// PNG, JPEG and BMP decoders are built (the other parsers are attack surface we never use),
// every function is static (no clash if something else in the process links libstb), and
// allocations go through a per-call cap that stops decompression bombs.
#include "cstb_image.h"

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

// The largest single allocation stb_image may make during the current call on this thread.
// stb's zlib inflater grows its output buffer without bound when a PNG's IDAT stream holds
// more data than the header's dimensions need, so a small file can ask for gigabytes; an
// honest image never needs a buffer much bigger than its pixels (see `allocation_limit`).
static _Thread_local size_t aligncl_allocation_limit = SIZE_MAX;

static void *aligncl_malloc(size_t size) {
    // Zeroed, because stb reads some state it never wrote: a JPEG scan may name a Huffman
    // table the file never defined, and stb 2.27 then decodes with whatever the heap held
    // (leftovers of an earlier image, which can trip its assertions or index out of bounds).
    // All-zero tables decode every code as symbol 0 without reading past anything.
    return size > aligncl_allocation_limit ? NULL : calloc(1, size);
}

static void *aligncl_realloc(void *pointer, size_t size) {
    // Leaving `pointer` untouched on refusal matches realloc's failure contract, which stb
    // relies on to free the old buffer itself.
    return size > aligncl_allocation_limit ? NULL : realloc(pointer, size);
}

#define STBI_MALLOC(size) aligncl_malloc(size)
#define STBI_REALLOC(pointer, size) aligncl_realloc(pointer, size)
#define STBI_FREE(pointer) free(pointer)

#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_STATIC
#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#define STBI_ONLY_BMP
#define STBI_NO_STDIO   // bytes come from Swift; no file access in C
#define STBI_NO_LINEAR  // no float/HDR entry points
#define STBI_NO_HDR

// Third-party code: its warnings (unused static functions, sign conversions) are not ours.
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Weverything"
#include <stb/stb_image.h>
#pragma clang diagnostic pop

/// Room for the biggest buffer a valid image of this size needs: 16-bit RGBA pixels
/// (8 bytes each) with JPEG's padding to whole 16-pixel blocks, the compressed data copied
/// into one growing buffer (up to twice the file), and slack for decoder tables.
static size_t allocation_limit(int width, int height, int length) {
    size_t padded = ((size_t)width + 16) * ((size_t)height + 16);
    return padded * 8 + (size_t)length * 2 + ((size_t)1 << 20);
}

/// After a failed `stbi_info_from_memory`: asks again only the decoder whose signature the
/// bytes carry, so the failure reason is that decoder's ("too large", "bad SOF len"…) rather
/// than the generic "unknown image type" stb records after trying every decoder in turn.
/// This uses stb's internal per-format functions, which the implementation included above
/// defines; a header version without them fails to compile rather than misbehaving.
static void explain_failure(const unsigned char *bytes, int length) {
    static const unsigned char png[8] = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A};
    int width = 0, height = 0, channels = 0;
    stbi__context context;
    stbi__start_mem(&context, bytes, length);
    if (length >= 8 && memcmp(bytes, png, 8) == 0) {
        stbi__png_info(&context, &width, &height, &channels);
    } else if (length >= 3 && bytes[0] == 0xFF && bytes[1] == 0xD8 && bytes[2] == 0xFF) {
        stbi__jpeg_info(&context, &width, &height, &channels);
    } else if (length >= 2 && bytes[0] == 'B' && bytes[1] == 'M') {
        stbi__bmp_info(&context, &width, &height, &channels);
    }
}

/// The byte at `index`, or 0 past the end, as stb's reader returns at end of input.
static unsigned byte_at(const unsigned char *bytes, size_t length, size_t index) {
    return index < length ? bytes[index] : 0;
}

/// Whether every Huffman table in the DHT segment whose payload starts at `start` declares at
/// most 256 codes. stb_image 2.27 (Debian 12's) copies the declared count into 257-entry
/// arrays unchecked, a heap overflow a crafted JPEG can trigger (upstream added the check in
/// 2.28). Walks the tables exactly as stb's DHT parser does.
static int huffman_tables_fit(const unsigned char *bytes, size_t length, size_t start, long remaining) {
    size_t at = start;
    while (remaining > 0 && at < length) {
        unsigned info = byte_at(bytes, length, at);
        if ((info >> 4) > 1 || (info & 15) > 3) return 1; // stb rejects this table itself
        long codes = 0;
        for (size_t i = 1; i <= 16; i++) codes += byte_at(bytes, length, at + i);
        if (codes > 256) return 0;
        at += 17 + (size_t)codes;
        remaining -= 17 + codes;
    }
    return 1;
}

/// Finds every DHT segment stb could parse and checks it with `huffman_tables_fit`. Segments
/// are followed by their length, as stb does for every segment it accepts; anything else
/// (entropy-coded data, junk between segments) is scanned byte by byte for 0xFF, so each place
/// stb could read a marker is looked at, and a few it would not (harmlessly).
static int jpeg_huffman_tables_fit(const unsigned char *bytes, size_t length) {
    size_t at = 2; // past SOI
    while (at + 1 < length) {
        if (bytes[at] != 0xFF) { at++; continue; }
        unsigned marker = bytes[at + 1];
        if (marker == 0xFF) { at++; continue; }                       // fill byte
        if (marker == 0x00 || marker == 0x01 || (marker >= 0xD0 && marker <= 0xD8)) {
            at += 2;                                                   // stuffed 0xFF, TEM, RSTn, SOI: no length
            continue;
        }
        if (marker == 0xD9) return 1;                                  // EOI: stb stops here
        size_t segment = (byte_at(bytes, length, at + 2) << 8) | byte_at(bytes, length, at + 3);
        if (marker == 0xC4 && !huffman_tables_fit(bytes, length, at + 4, (long)segment - 2)) return 0;
        at += 2 + (segment < 2 ? 0 : segment);
    }
    return 1;
}

int aligncl_image_info(const unsigned char *bytes, int length, int *width, int *height, int *channels) {
    if (length <= 0) return 0;
    if (length >= 3 && bytes[0] == 0xFF && bytes[1] == 0xD8 && bytes[2] == 0xFF
        && !jpeg_huffman_tables_fit(bytes, (size_t)length)) {
        // stb's reason for this case in later versions, so messages match if Debian upgrades.
        stbi__err("bad DHT header", "Corrupt JPEG");
        return 0;
    }
    // Reading a header allocates only small decoder state.
    aligncl_allocation_limit = allocation_limit(0, 0, 0);
    int ok = stbi_info_from_memory(bytes, length, width, height, channels);
    if (!ok) explain_failure(bytes, length);
    aligncl_allocation_limit = SIZE_MAX;
    // stb's BMP reader reports abs(height), which for INT_MIN stays negative; nothing sane
    // follows from a non-positive size, so stop here rather than in the decoder.
    if (ok && (*width <= 0 || *height <= 0)) {
        stbi__err("bad dimensions", "Corrupt image");
        return 0;
    }
    return ok;
}

unsigned char *aligncl_image_decode_rgb(const unsigned char *bytes, int length, int *width, int *height) {
    int headerWidth = 0, headerHeight = 0, channels = 0;
    if (!aligncl_image_info(bytes, length, &headerWidth, &headerHeight, &channels)) return NULL;
    aligncl_allocation_limit = allocation_limit(headerWidth, headerHeight, length);
    int stored = 0;
    unsigned char *pixels = stbi_load_from_memory(bytes, length, width, height, &stored, 3);
    aligncl_allocation_limit = SIZE_MAX;
    return pixels;
}

void aligncl_image_free(void *pixels) {
    stbi_image_free(pixels);
}

const char *aligncl_image_failure(void) {
    return stbi_failure_reason();
}
