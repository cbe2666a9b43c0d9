/* frame.h - media frames and acks on byways (SPEC §4.3, D7, D8, D29).
 *
 *   frame: varint seq_offset | varint length | payload[length]    (1 <= length <= 1500)
 *   ack:   varint seq (full) | varint channel | u64 rx_time_us (big-endian)
 *
 * Varints are QUIC variable-length integers (RFC 9000 §16). The parsers are incremental:
 * feed any chunking of the byte stream and they call back once per complete record. */
#ifndef RIPP_FRAME_H
#define RIPP_FRAME_H

#include "ripp/ripp.h"

#define RIPP_FRAME_MAX_PAYLOAD 1500
#define RIPP_VARINT_MAX ((uint64_t)0x3fffffffffffffffULL)
/* Largest encoded frame / ack record. */
#define RIPP_FRAME_MAX_RECORD (8 + 8 + RIPP_FRAME_MAX_PAYLOAD)
#define RIPP_ACK_MAX_RECORD (8 + 8 + 8)

/* Bytes needed to encode v (1, 2, 4 or 8); 0 when v > RIPP_VARINT_MAX. */
size_t ripp_varint_len(uint64_t v);
/* Writes v at out. Returns bytes written, RIPP_ERR_LIMIT if cap is too small,
 * RIPP_ERR_INVAL if v > RIPP_VARINT_MAX. */
int ripp_varint_encode(uint8_t *out, size_t cap, uint64_t v);
/* Reads one varint. Returns bytes consumed (>0), or RIPP_ERR_TRUNCATED if `in` ends
 * before the varint does. */
int ripp_varint_decode(const uint8_t *in, size_t len, uint64_t *v);

typedef struct ripp_ack {
    uint64_t seq;        /* full sequence number of the acked frame */
    uint64_t channel;    /* channel number (1 when single-channel) */
    uint64_t rx_time_us; /* wall-clock receive time, µs since the Unix epoch */
} ripp_ack;

/* Encode one frame. Returns bytes written, RIPP_ERR_INVAL for len == 0,
 * len > RIPP_FRAME_MAX_PAYLOAD or seq_offset > 2^32-1, RIPP_ERR_LIMIT if cap is too small. */
int64_t ripp_frame_encode(uint8_t *out, size_t cap, uint64_t seq_offset, const uint8_t *payload,
                          size_t len);
/* Encode one ack. Returns bytes written, RIPP_ERR_INVAL (seq >= 2^32, channel 0 or > 255)
 * or RIPP_ERR_LIMIT. */
int64_t ripp_ack_encode(uint8_t *out, size_t cap, const ripp_ack *ack);

/* Called once per complete frame; payload is valid during the call only. A non-zero
 * return stops parsing and is returned from ripp_frame_parser_feed. */
typedef int (*ripp_frame_cb)(void *ud, uint64_t seq_offset, const uint8_t *payload, size_t len);
typedef int (*ripp_ack_cb)(void *ud, const ripp_ack *ack);

/* Incremental frame parser; embed it, fields are private. */
typedef struct ripp_frame_parser {
    uint8_t hdr[16];
    size_t hdr_len;
    uint64_t seq_offset;
    size_t need; /* payload bytes still expected, when in payload state */
    size_t got;
    int in_payload;
    int failed; /* sticky error */
    uint64_t frames;
    uint8_t payload[RIPP_FRAME_MAX_PAYLOAD];
} ripp_frame_parser;

void ripp_frame_parser_init(ripp_frame_parser *p);
/* Returns 0, RIPP_ERR_PROTO (length 0, or seq_offset > 2^32-1), RIPP_ERR_LIMIT (length >
 * 1500, detected before any payload is buffered), or the callback's non-zero value. After an
 * error (the callback's included) the parser stays failed and returns it again. Non-minimal
 * varint encodings are accepted. */
int ripp_frame_parser_feed(ripp_frame_parser *p, const uint8_t *in, size_t len, ripp_frame_cb cb,
                           void *ud);
/* At end of stream: 0 if the parser stopped on a record boundary, else RIPP_ERR_TRUNCATED. */
/* A failed parser returns its error instead. */
int ripp_frame_parser_finish(const ripp_frame_parser *p);

typedef struct ripp_ack_parser {
    uint8_t buf[RIPP_ACK_MAX_RECORD];
    size_t len;
    int failed;
    uint64_t acks;
} ripp_ack_parser;

void ripp_ack_parser_init(ripp_ack_parser *p);
/* Returns 0, RIPP_ERR_PROTO (channel or seq out of range: seq >= 2^32, channel 0 or
 * > 255), or the callback's non-zero value. Errors are sticky, as for frames. */
int ripp_ack_parser_feed(ripp_ack_parser *p, const uint8_t *in, size_t len, ripp_ack_cb cb,
                         void *ud);
int ripp_ack_parser_finish(const ripp_ack_parser *p);

#endif
