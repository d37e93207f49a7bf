package com.zalando.translation;

import com.sun.net.httpserver.HttpServer;

import java.net.InetSocketAddress;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * Minimal "translation service" for the pmortem repro.
 *
 * Serves GET /translations?lang=xx on 127.0.0.1:PORT with a deliberately slow-ish,
 * chunked response (simulated work, then the body in pieces). Logs in a logback-like
 * pattern: %d{yyyy-MM-dd HH:mm:ss.SSS} [%thread] %-5level %logger{36} - %msg%n.
 * Run with TZ=UTC -Duser.timezone=UTC: the timestamps carry no zone.
 */
public final class TranslationServer {
    private static final Log LOG = new Log("com.zalando.translation.TranslationServer");

    public static void main(String[] args) throws Exception {
        int port = Integer.parseInt(System.getenv().getOrDefault("PORT", "18080"));
        int threads = Integer.parseInt(System.getenv().getOrDefault("HTTP_THREADS", "16"));
        HttpServer server = HttpServer.create(new InetSocketAddress("127.0.0.1", port), 512);
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        server.createContext("/translations", new TranslationHandler());
        server.createContext("/health", exchange -> {
            byte[] ok = "ok".getBytes();
            exchange.sendResponseHeaders(200, ok.length);
            exchange.getResponseBody().write(ok);
            exchange.close();
        });
        server.setExecutor(pool);
        server.start();
        LOG.info("Started TranslationServer on 127.0.0.1:" + port + " with " + threads + " worker threads (java " + System.getProperty("java.version") + ")");
        Runtime.getRuntime().addShutdownHook(new Thread(() -> server.stop(0)));
    }
}
