package eventhttp

import (
	"net/url"
	"strings"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"
	"github.com/cloudevents/sdk-go/v2/types"

	"github.com/strata-platform/strata/pkg/event"
)

// contextAttributes are the CloudEvents 1.0 context attributes, which are not extensions.
var contextAttributes = map[string]bool{
	"specversion": true, "id": true, "source": true, "type": true,
	"subject": true, "time": true, "datacontenttype": true, "dataschema": true,
}

// trimmed are the attributes sdk-go trims when it sets them; a value with white space at its
// edges would silently change on the way in, so it is refused before sdk-go sees it.
var trimmed = map[string]bool{"id": true, "type": true, "subject": true, "datacontenttype": true, "dataschema": true}

// checkAttribute checks the string form of a context attribute as it arrived, before sdk-go
// parses it: sdk-go drops or trims some malformed values instead of failing, and fails on
// others without saying which attribute was at fault.
func checkAttribute(name, v string) error {
	switch {
	case name == "specversion":
		if v != event.SpecVersion {
			return invalid(event.CodeBadSpecVersion, name, "must be %q, got %q", event.SpecVersion, v)
		}
		return nil
	case strings.TrimSpace(v) == "":
		if name == "id" || name == "source" || name == "type" {
			return invalid(event.CodeMissingAttribute, name, "is required and must not be empty")
		}
		return invalid(event.CodeInvalidAttribute, name, "must not be empty when present")
	case trimmed[name] && strings.TrimSpace(v) != v:
		return invalid(event.CodeInvalidAttribute, name, "must not begin or end with white space")
	}
	switch name {
	case "source":
		if _, err := url.Parse(v); err != nil {
			return invalid(event.CodeInvalidAttribute, name, "must be a URI-reference: %v", err)
		}
	case "dataschema":
		if u, err := url.Parse(v); err != nil || !u.IsAbs() {
			return invalid(event.CodeInvalidAttribute, name, "must be an absolute URI")
		}
	case "time":
		if _, err := types.ParseTime(v); err != nil {
			return invalid(event.CodeInvalidAttribute, name, "must be an RFC 3339 timestamp")
		}
	}
	return nil
}

// checkExtensionName refuses names sdk-go would reject (which it reports without the code)
// or fold to lower case (which would hide the error from event.Validate). The length and
// reserved-name rules are event.Validate's.
func checkExtensionName(name string) error {
	if !cloudevents.IsExtensionNameValid(name) || strings.ToLower(name) != name {
		return invalid(event.CodeInvalidExtensionName, name,
			"extension names are 1-20 lower-case ASCII letters or digits")
	}
	return nil
}

// mediaType returns the lower-cased media type of a content type, without parameters.
func mediaType(contentType string) string {
	if i := strings.IndexByte(contentType, ';'); i >= 0 {
		contentType = contentType[:i]
	}
	return strings.ToLower(strings.TrimSpace(contentType))
}

// isJSONData reports whether data of this datacontenttype is JSON, as the JSON event format
// defines it: no datacontenttype, or a media type of the form */json or */*+json.
func isJSONData(datacontenttype string) bool {
	mt := mediaType(datacontenttype)
	if mt == "" {
		return true
	}
	_, sub, _ := strings.Cut(mt, "/")
	return sub == "json" || strings.HasSuffix(sub, "+json")
}

// sdkReadsJSON mirrors how sdk-go's JSON decoder decides that data is JSON (and so keeps its
// bytes raw): its own list, compared case-sensitively.
func sdkReadsJSON(datacontenttype string) bool {
	mt := datacontenttype
	if i := strings.IndexByte(mt, ';'); i >= 0 {
		mt = strings.TrimSpace(mt[:i])
	}
	return sdkJSONTypes[mt]
}

// sdkWritesJSON mirrors how sdk-go's JSON encoder decides to write data raw.
func sdkWritesJSON(datacontenttype string) bool { return sdkJSONTypes[mediaType(datacontenttype)] }

var sdkJSONTypes = map[string]bool{
	"": true, cloudevents.ApplicationJSON: true, cloudevents.TextJSON: true,
	cloudevents.ApplicationCloudEventsJSON: true, cloudevents.ApplicationCloudEventsBatchJSON: true,
}
