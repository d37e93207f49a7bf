// A plain JDK 17 program that logs the way a logback pattern
// "%d{yyyy-MM-dd HH:mm:ss.SSS} [%thread] %-5level %logger - %msg%n" does, using only
// java.util.logging with a custom Formatter.  The ERROR carries a real exception chain:
// a java.net.ConnectException from connecting to a closed local port, wrapped twice, so
// the printed stack trace has "Caused by:" sections and "... N more" lines.
// Run: javac -d build CheckoutApp.java && java -Duser.timezone=UTC -cp build CheckoutApp
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.time.Instant;
import java.time.ZoneId;
import java.time.format.DateTimeFormatter;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.logging.Formatter;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import java.util.logging.StreamHandler;

public class CheckoutApp {
    static final class LogbackStyleFormatter extends Formatter {
        private static final DateTimeFormatter TS =
            DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm:ss.SSS").withZone(ZoneId.systemDefault());

        private static String level(Level l) {
            if (l == Level.SEVERE) return "ERROR";
            if (l == Level.WARNING) return "WARN";
            if (l == Level.INFO || l == Level.CONFIG) return "INFO";
            if (l == Level.FINE) return "DEBUG";
            return "TRACE";
        }

        @Override
        public String format(LogRecord r) {
            StringBuilder sb = new StringBuilder();
            sb.append(TS.format(Instant.ofEpochMilli(r.getMillis())))
              .append(" [").append(Thread.currentThread().getName()).append("] ")
              .append(String.format("%-5s", level(r.getLevel()))).append(' ')
              .append(r.getLoggerName()).append(" - ").append(formatMessage(r)).append('\n');
            if (r.getThrown() != null) {
                StringWriter sw = new StringWriter();
                r.getThrown().printStackTrace(new PrintWriter(sw));
                sb.append(sw);
            }
            return sb.toString();
        }
    }

    static Logger logger(String name) {
        Logger l = Logger.getLogger(name);
        l.setUseParentHandlers(false);
        Handler h = new StreamHandler(System.out, new LogbackStyleFormatter()) {
            @Override
            public synchronized void publish(LogRecord record) {
                super.publish(record);
                flush();
            }
        };
        l.addHandler(h);
        return l;
    }

    static final Logger APP = logger("com.example.checkout.CheckoutApplication");
    static final Logger PRICING = logger("com.example.checkout.pricing.PricingClient");
    static final Logger WEB = logger("com.example.checkout.web.CartController");

    static int closedPort() throws IOException {
        try (ServerSocket s = new ServerSocket()) {
            s.bind(new InetSocketAddress("127.0.0.1", 0));
            return s.getLocalPort();
        } // closed: nothing listens there any more
    }

    static double fetchPrice(int port, String sku) throws IOException {
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress("127.0.0.1", port), 500);
            return 0.0;
        }
    }

    static double priceFor(int port, String sku) {
        try {
            return fetchPrice(port, sku);
        } catch (IOException e) {
            throw new IllegalStateException("pricing backend unavailable for sku " + sku, e);
        }
    }

    static void handleCart(int port) {
        try {
            priceFor(port, "42");
        } catch (IllegalStateException e) {
            throw new RuntimeException("GET /api/cart/17 failed", e);
        }
    }

    public static void main(String[] args) throws Exception {
        APP.info("Starting CheckoutApplication v2.4.1 using Java " + System.getProperty("java.version"));
        APP.info("availableProcessors=" + Runtime.getRuntime().availableProcessors());
        int port = closedPort();
        ExecutorService pool = Executors.newFixedThreadPool(1, r -> new Thread(r, "http-nio-8080-exec-1"));
        pool.submit(() -> {
            WEB.info("GET /api/cart/17 from 10.0.0.7");
            PRICING.warning("pricing call took 1250 ms (budget 800 ms)");
            try {
                handleCart(port);
            } catch (RuntimeException e) {
                WEB.log(Level.SEVERE, "Request processing failed", e);
            }
            WEB.info("GET /api/cart/18 from 10.0.0.7");
        }).get();
        pool.shutdown();
        pool.awaitTermination(5, TimeUnit.SECONDS);
        APP.info("Shutting down");
    }
}
