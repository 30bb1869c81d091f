/*
 * crc32c.h — CRC-32C (Castagnoli), the checksum of snapshot file blocks
 * (snapshot_file.c). Uses the SSE4.2 crc32 instruction when the CPU has it,
 * else a table (slice-by-8). Pure and thread-safe.
 */
#ifndef FLINC_STATE_CRC32C_H
#define FLINC_STATE_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/*
 * st_crc32c extends crc (0 to start) over data[0..len) and returns the new
 * value: st_crc32c(st_crc32c(0, a, n), b, m) is the CRC of a then b.
 * st_crc32c(0, "123456789", 9) == 0xE3069283.
 */
uint32_t st_crc32c(uint32_t crc, const void *data, size_t len);

#endif
