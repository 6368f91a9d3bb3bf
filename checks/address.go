package checks

import (
	"errors"
	"net"
	"strconv"
	"strings"

	"github.com/healthgate/healthgate/config"
)

// An address field (tcp, memcached and grpc address, dns server) takes host:port and nothing else. A value
// that is not one is often a URL or a DSN pasted into the wrong field, with its password
// (address: ${DATABASE_URL}), so an error quotes it the way RedactURL shows a URL: the password and
// secret-looking parameters replaced, or the whole value when it cannot be read as a URL.

// quoteAddress quotes an address field's value for an error message, redacted; a value of the form
// word:word that is no host:port (app:hunter2, user:password without its host) is not shown at all, nor
// one with what RedactURL does not read as a URL's parts ('#', '&', ';': a fragment or parameters, as in
// payments.internal#s3cr3t or host#s3cr3t:53). An IP address before the last ':' is no user name: that
// is a host with a bad port (127.0.0.1:abc, 127.0.0.1:99999), shown.
func quoteAddress(v string) string {
	r := RedactURL(v)
	if r == v && strings.Contains(v, ":") && !strings.Contains(v, "://") && !hasPort(v) && !isIPLiteral(v) && !isIPLiteral(v[:strings.LastIndexByte(v, ':')]) {
		return strconv.Quote(redacted)
	}
	if r == v && !strings.Contains(v, "://") && strings.ContainsAny(v, "#&;") {
		return strconv.Quote(redacted)
	}
	return strconv.Quote(r)
}

// badHost reports why host cannot be a host name or an IP address, "" when it can: a user part
// (user:password@host), a URL's path, query or fragment, or spaces are not part of a host, and the
// resolver would be asked for them at every run (and print them in its error).
func badHost(host string) string {
	switch {
	case strings.Contains(host, "://"):
		return "a URL, not an address"
	case strings.Contains(host, "@"):
		return "user information (user:password@) has no place in an address"
	case strings.ContainsAny(host, "/?#=&;"):
		return "a path or parameters have no place in an address"
	case strings.ContainsAny(host, " \t\r\n"):
		return "a host holds no spaces"
	}
	return ""
}

// badHostName says why host, neither an IP address nor a name the resolver can ask for (config.BadDNSName),
// cannot be dialled: "" when it can. The resolver answers such a name as NXDOMAIN without a query, and
// the check would fail at every run as if the name were not published.
func badHostName(host string) string {
	if isIPLiteral(host) {
		return ""
	}
	return config.BadDNSName(host)
}

// checkAddress validates a host:port field; a missing port is defPort when one is given. The port is a
// number from 1 to 65535 or a service name the system knows (http, memcache).
func checkAddress(c config.Check, address, field, defPort string) (string, *config.Error) {
	v := address
	if v == "" {
		return "", c.Src.Errorf(field, "required: host:port")
	}
	host, port, err := net.SplitHostPort(v)
	if err != nil && defPort != "" {
		if h, _, err2 := net.SplitHostPort(v + ":" + defPort); err2 == nil {
			host, port, err = h, defPort, nil
			v = net.JoinHostPort(host, port)
		}
	}
	if why := badHost(address); why != "" {
		return "", c.Src.Errorf(field, "must be host:port (got %s): %s", quoteAddress(address), why)
	}
	if err == nil && host == "" && port != "" && strings.Trim(port, "0123456789") == "" {
		// :5432 (a listen address's form) holds no secret to hide (a port of digits alone), and "must
		// be host:port" did not say what was missing.
		return "", c.Src.Errorf(field, "must be host:port (got %q): the host is missing; write 127.0.0.1%s (or localhost%s) for this machine", address, address, address)
	}
	if err != nil && strings.Count(address, ":") > 1 && (net.ParseIP(address) != nil || net.ParseIP(address[:strings.LastIndexByte(address, ':')]) != nil) {
		// ::1 or fd00::7:11211: SplitHostPort cannot tell the address from the port.
		return "", c.Src.Errorf(field, "must be host:port (got %s): an IPv6 address is written in brackets, as [::1]:11211", quoteAddress(address))
	}
	if err != nil || host == "" {
		return "", c.Src.Errorf(field, "must be host:port (got %s)", quoteAddress(address))
	}
	if why := badHostName(host); why != "" {
		return "", c.Src.Errorf(field, "must be host:port (got %s): the host is not a DNS name: %s", quoteAddress(address), why)
	}
	n, nerr := strconv.Atoi(port)
	if nerr == nil && (n < 1 || n > 65535) || errors.Is(nerr, strconv.ErrRange) {
		// Digits alone hold no secret to hide; one past an int's range is a number all the same.
		return "", c.Src.Errorf(field, "port must be a number from 1 to 65535 (got %s)", port)
	}
	if _, lerr := net.LookupPort("tcp", port); nerr != nil && lerr != nil {
		// Not quoted: in user:password, written where host:port belongs, this part is the password.
		return "", c.Src.Errorf(field, "port must be a number from 1 to 65535 or a service name such as http; what follows the last ':' is neither")
	}
	return v, nil
}
