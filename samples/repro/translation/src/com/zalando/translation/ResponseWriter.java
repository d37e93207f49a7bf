package com.zalando.translation;

import com.sun.net.httpserver.HttpExchange;

import java.io.IOException;
import java.io.OutputStream;

/** Writes a response body in chunks; a client that went away surfaces as "Response is closed". */
final class ResponseWriter {
    private final HttpExchange exchange;
    private boolean closed;

    ResponseWriter(HttpExchange exchange) {
        this.exchange = exchange;
    }

    void begin(int status, long length) {
        checkValid();
        try {
            exchange.getResponseHeaders().set("Content-Type", "application/json");
            exchange.sendResponseHeaders(status, length);
        } catch (IOException e) {
            closed = true;
            throw new IllegalStateException("Response is closed", e);
        }
    }

    void write(byte[] body, int off, int len) {
        checkValid();
        try {
            OutputStream out = exchange.getResponseBody();
            out.write(body, off, len);
            out.flush();
        } catch (IOException e) {
            closed = true;
            throw new IllegalStateException("Response is closed", e);
        }
    }

    void end() {
        checkValid();
        try {
            exchange.getResponseBody().close();
        } catch (IOException e) {
            closed = true;
            throw new IllegalStateException("Response is closed", e);
        } finally {
            exchange.close();
        }
    }

    private void checkValid() {
        if (closed) throw new IllegalStateException("Response is closed");
    }
}
