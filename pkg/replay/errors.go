package replay

import "errors"

// Sentinel errors; errors.Is finds them through any wrapping.
var (
	// ErrReplayConfig marks a Config (or a flag that built it) that cannot work: the
	// caller's mistake, not a failure of the source or the sink.
	ErrReplayConfig = errors.New("replay: bad configuration")
	// ErrReplayNoTopic: the topic to replay does not exist.
	ErrReplayNoTopic = errors.New("replay: no such topic")
	// ErrReplayState: the resume state file does not fit this replay (another topic,
	// format or output), or the output no longer matches it.
	ErrReplayState = errors.New("replay: resume state does not match")
)
