import com.sun.net.httpserver.*;
import java.io.*;
import java.net.InetSocketAddress;
import java.time.*;
import java.time.format.DateTimeFormatter;
import java.util.*;
import java.util.concurrent.*;

public class Shop {
    static final DateTimeFormatter F = DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm:ss.SSS");
    static final List<byte[]> cache = new ArrayList<>();
    static void log(String level, String logger, String msg) {
        System.out.println(LocalDateTime.now(ZoneOffset.UTC).format(F) + " [" + Thread.currentThread().getName() + "] " + String.format("%-5s", level) + " " + logger + " - " + msg);
        System.out.flush();
    }
    public static void main(String[] a) throws Exception {
        int port = Integer.parseInt(a[0]);
        boolean leak = a.length > 1 && a[1].equals("leak");
        log("INFO", "c.e.shop.Application", "Starting Shop on port " + port + " with max heap " + (Runtime.getRuntime().maxMemory() >> 20) + " MB, " + Runtime.getRuntime().availableProcessors() + " processors");
        HttpServer s = HttpServer.create(new InetSocketAddress("127.0.0.1", port), 64);
        s.setExecutor(Executors.newFixedThreadPool(4, r -> { Thread t = new Thread(r); t.setName("http-nio-" + port + "-exec-" + t.getId()); return t; }));
        s.createContext("/", ex -> {
            long t0 = System.nanoTime();
            String path = ex.getRequestURI().getPath();
            int status = 200;
            byte[] body = "ok\n".getBytes();
            try {
                if (leak && path.startsWith("/api/cart")) {
                    cache.add(new byte[256 * 1024]); // a per-request "session cache" nobody evicts
                }
                Thread.sleep(2);
            } catch (InterruptedException e) { status = 500; }
            ex.sendResponseHeaders(status, body.length);
            try (OutputStream o = ex.getResponseBody()) { o.write(body); }
            log("INFO", "c.e.shop.web.RequestLog", ex.getRequestMethod() + " " + path + " " + status + " " + ((System.nanoTime() - t0) / 1000000) + "ms");
        });
        s.start();
        log("INFO", "c.e.shop.Application", "Started Shop in 0.4 seconds");
    }
}
