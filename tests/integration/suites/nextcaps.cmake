# The bridge checks the next trunk's capabilities (SPEC §5.1, D13, D25): a codec the next
# trunk cannot take is refused on leg A (488) with no call placed; capAdv is cached with its
# ETag and revalidated (304) on a new connection.
ripp_it(bridge_nextcaps sh ${IT}/nextcaps.sh)
