/*
 * http_client.c - mailctl's HTTP(S) transport: one libcurl easy request per
 * API call, Basic auth (RFC 7617), JSON bodies, bounded response size.
 *
 * Owns nothing between calls. TLS verification is on unless --insecure (the
 * dev nodes use a self-signed certificate); --cacert names the CA bundle or
 * the node's own cert.pem. Path segments are %-encoded here (RFC 3986 §2.3
 * unreserved characters pass through) so addresses travel as "bob%40a.test".
 */
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

#include "lib/xalloc.h"
#include "node/mailctl/mailctl.h"

void
mailctl_path_append(struct buf *b, const char *seg)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p;

	for (p = (const unsigned char *)seg; *p != '\0'; p++) {
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_' || *p == '~') {
			(void)buf_append(b, p, 1);
		} else {
			char esc[3] = {'%', hex[*p >> 4], hex[*p & 0xf]};

			(void)buf_append(b, esc, sizeof(esc));
		}
	}
}

static size_t
write_cb(char *data, size_t size, size_t nmemb, void *arg)
{
	struct buf *b = arg;
	size_t n = size * nmemb;

	/* Returning less than n makes curl fail with CURLE_WRITE_ERROR. */
	if (buf_append(b, data, n) != 0)
		return 0;
	return n;
}

int
mailctl_request(const struct mailctl_client *c, const char *method, const char *path, json_t *body,
    struct mailctl_response *resp, struct mn_err *err)
{
	char errbuf[CURL_ERROR_SIZE] = "";
	struct curl_slist *headers = NULL;
	char *url, *payload = NULL;
	CURL *curl;
	CURLcode rc;
	int ret = 0;

	memset(resp, 0, sizeof(*resp));
	buf_init(&resp->body, MAILCTL_MAX_RESPONSE);

	curl = curl_easy_init();
	if (curl == NULL)
		return mn_err_set(err, MN_EIO, "cannot initialise libcurl");
	url = xasprintf("%s/api/v1%s", c->server, path);
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT, c->timeout_s);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &resp->body);
	curl_easy_setopt(curl, CURLOPT_USERAGENT, "mailctl/" MN_VERSION);
	if (c->password != NULL) {
		/* Separate fields: a ':' in the password stays part of it. */
		curl_easy_setopt(curl, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		curl_easy_setopt(curl, CURLOPT_USERNAME, c->user);
		curl_easy_setopt(curl, CURLOPT_PASSWORD, c->password);
	}
	if (c->insecure) {
		curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (c->cacert != NULL)
		curl_easy_setopt(curl, CURLOPT_CAINFO, c->cacert);

	headers = curl_slist_append(headers, "Accept: application/json");
	/* No "Expect: 100-continue" round trip for bodies over 1 KiB. */
	headers = curl_slist_append(headers, "Expect:");
	if (body != NULL) {
		payload = json_dumps(body, JSON_COMPACT);
		if (payload == NULL)
			abort();
		headers = curl_slist_append(headers, "Content-Type: application/json");
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, payload);
		curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)strlen(payload));
	} else if (strcmp(method, "GET") != 0 && strcmp(method, "DELETE") != 0) {
		/* An empty POST still says how long it is. */
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, "");
		curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, 0L);
	}
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);

	rc = curl_easy_perform(curl);
	if (rc != CURLE_OK) {
		ret = mn_err_set(err, MN_EIO, "cannot reach %s: %s", c->server,
		    errbuf[0] != '\0' ? errbuf : curl_easy_strerror(rc));
		goto out;
	}
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &resp->status);
	if (resp->body.len > 0) {
		json_error_t jerr;

		resp->json = json_loadb(
		    (const char *)resp->body.data, resp->body.len, JSON_DECODE_ANY, &jerr);
	}
out:
	curl_slist_free_all(headers);
	curl_easy_cleanup(curl);
	free(payload);
	free(url);
	return ret;
}

void
mailctl_response_fini(struct mailctl_response *resp)
{
	buf_fini(&resp->body);
	if (resp->json != NULL)
		json_decref(resp->json);
	resp->json = NULL;
}
