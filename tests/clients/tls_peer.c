/* An HTTPS/1.1 server and its client in one program, for the tracer's tests of TLS libraries
 * other than the system's shared OpenSSL (tests/trace_tls_libs.rs builds it against BoringSSL,
 * Debian's android-libboringssl, and against OpenSSL linked in statically). The OpenSSL API
 * both libraries share: SSL_read and SSL_write on a socket set with SSL_set_fd.
 *
 *   tls_peer CERT KEY REQUESTS
 *
 * Listens on an ephemeral loopback port and prints "ready PORT". On a line from standard input
 * it forks a client process, which makes REQUESTS requests on one connection (GET
 * /tls-lib/0 .. /tls-lib/REQUESTS-2, answered 200, then GET /tls-lib/missing, answered 404),
 * each request and each response in one SSL_write; this process serves them. Prints "done"
 * when both are through, or "failed: WHY" and exits 1. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static void fail(const char *why)
{
	printf("failed: %s\n", why);
	fflush(stdout);
	exit(1);
}

/* Reads until the end of a message head ("\r\n\r\n"); returns its length with the bytes read in
 * *got, 0 at the end of the connection, -1 on an error. */
static int read_head(SSL *ssl, char *buf, int cap, int *got)
{
	*got = 0;
	for (;;) {
		int n = SSL_read(ssl, buf + *got, cap - 1 - *got);
		if (n <= 0)
			return *got == 0 && SSL_get_error(ssl, n) == SSL_ERROR_ZERO_RETURN ? 0 : -1;
		*got += n;
		buf[*got] = 0;
		char *end = strstr(buf, "\r\n\r\n");
		if (end)
			return (int)(end - buf) + 4;
		if (*got >= cap - 1)
			return -1;
	}
}

static void serve(SSL_CTX *ctx, int listener)
{
	int fd = accept(listener, NULL, NULL);
	if (fd < 0)
		fail("accept");
	SSL *ssl = SSL_new(ctx);
	SSL_set_fd(ssl, fd);
	if (SSL_accept(ssl) != 1)
		fail("SSL_accept");
	char req[4096], resp[512];
	int got;
	for (;;) {
		int head = read_head(ssl, req, sizeof req, &got);
		if (head == 0)
			break;
		if (head < 0) {
			/* The client closing without close_notify ends the connection too. */
			break;
		}
		char path[256] = "";
		sscanf(req, "GET %255s HTTP/1.1", path);
		int missing = strstr(path, "missing") != NULL;
		const char *body = missing ? "no such page\n" : "hello from a TLS library\n";
		int len = snprintf(resp, sizeof resp,
				   "HTTP/1.1 %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n\r\n%s",
				   missing ? "404 Not Found" : "200 OK", strlen(body), body);
		if (SSL_write(ssl, resp, len) != len)
			fail("server SSL_write");
	}
	SSL_free(ssl);
	close(fd);
}

static void client(int port, int requests)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_method());
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0)
		_exit(2);
	SSL *ssl = SSL_new(ctx);
	SSL_set_fd(ssl, fd);
	if (SSL_connect(ssl) != 1)
		_exit(3);
	char req[256], resp[4096];
	for (int i = 0; i < requests; i++) {
		char path[64];
		if (i == requests - 1)
			snprintf(path, sizeof path, "/tls-lib/missing");
		else
			snprintf(path, sizeof path, "/tls-lib/%d", i);
		int len = snprintf(req, sizeof req,
				   "GET %s HTTP/1.1\r\nHost: localhost\r\nUser-Agent: tls_peer\r\n\r\n", path);
		if (SSL_write(ssl, req, len) != len)
			_exit(4);
		int got;
		int head = read_head(ssl, resp, sizeof resp, &got);
		if (head <= 0)
			_exit(5);
		const char *cl = strstr(resp, "Content-Length: ");
		int body = cl ? atoi(cl + 16) : 0;
		while (got < head + body) {
			int n = SSL_read(ssl, resp, sizeof resp - 1);
			if (n <= 0)
				_exit(6);
			got += n;
		}
	}
	SSL_shutdown(ssl);
	SSL_free(ssl);
	close(fd);
	_exit(0);
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: tls_peer CERT KEY REQUESTS\n");
		return 2;
	}
	int requests = atoi(argv[3]);
	if (requests < 1)
		fail("REQUESTS must be at least 1");
	SSL_CTX *ctx = SSL_CTX_new(TLS_method());
	if (!ctx || SSL_CTX_use_certificate_file(ctx, argv[1], SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, argv[2], SSL_FILETYPE_PEM) != 1)
		fail("certificate or key");
	int listener = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t alen = sizeof a;
	if (bind(listener, (struct sockaddr *)&a, sizeof a) != 0 || listen(listener, 4) != 0 ||
	    getsockname(listener, (struct sockaddr *)&a, &alen) != 0)
		fail("listen");
	printf("ready %d\n", ntohs(a.sin_port));
	fflush(stdout);
	char line[16];
	if (!fgets(line, sizeof line, stdin))
		fail("no go line");
	pid_t pid = fork();
	if (pid < 0)
		fail("fork");
	if (pid == 0)
		client(ntohs(a.sin_port), requests);
	serve(ctx, listener);
	int status;
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		printf("failed: client exit status %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
		return 1;
	}
	printf("done\n");
	fflush(stdout);
	return 0;
}
