/* sip.h - SIP status vocabulary used in RIPP events (failed code + reason phrase, D15). */
#ifndef RIPP_SIP_H
#define RIPP_SIP_H

/* The RFC 3261 reason phrase of a SIP status code; "Unknown" when none. */
const char *ripp_sip_reason(int code);

#endif
