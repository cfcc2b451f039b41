#!/usr/bin/perl

# A large configuration, as sites have them: over a hundred gateway
# locations in five servers, settings inherited from the http and server
# levels, passes of every kind (an IP address with and without a port, a
# host name, upstream blocks with and without keepalive, over http and
# https), credentials inline and in files, three cache zones, and ordinary
# locations in between.  nginx -t accepts it, two workers answer every
# location right, signed with the right key, and no worker dies.  Memory
# errors made while reading a configuration hide in small ones; so does a
# cache zone named like the module's own (the end of the file).

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use CiJobsTest;
use IO::Socket::INET;
use Socket qw(getaddrinfo getnameinfo AI_ADDRCONFIG NI_NUMERICHOST
              NIx_NOSERV SOCK_STREAM);
use Time::HiRes qw(sleep time);
use Test::More;

my $started = time;

my ($ID1, $KEY1) = ($CiJobsTest::SECRET_ID, $CiJobsTest::SECRET_KEY);
my ($ID2, $KEY2) = ('AKIDlargeconfigkey0000000000000000002',
                    'largeconfigsecretkey0000000000002');
my $TOKEN = 'large-config-sts-token-0002';

# --- where the passes lead --------------------------------------------------

# nginx resolves a host name with getaddrinfo(AI_ADDRCONFIG): localhost may
# be ::1 as well, where no emulator listens.  nginx then tries the next
# address, as in any upstream block (a refused connect is an [error]);
# without IPv6 at all that connect would be a [crit], so the host name
# passes fall back to the address.
my @localhost = do {
    my ($err, @ai) = getaddrinfo('localhost', '', { flags => AI_ADDRCONFIG,
                                                    socktype => SOCK_STREAM });
    map { (getnameinfo($_->{addr}, NI_NUMERICHOST, NIx_NOSERV))[1] } @ai;
};
my $v6 = grep { $_ eq '::1' } @localhost;
my $localhost_ok = @localhost
    && !grep { $_ ne '127.0.0.1' && $_ ne '::1' } @localhost;
$localhost_ok &&= eval {
    require IO::Socket::IP;
    IO::Socket::IP->new(Listen => 1, LocalHost => '::1', LocalPort => 0);
} if $v6;
note("localhost is @localhost" . ($localhost_ok ? '' : ': not usable,'
     . ' host name passes use 127.0.0.1'));
my $LOCALHOST = $localhost_ok ? 'localhost' : '127.0.0.1';

# A pass without a port dials 80 or 443: a loopback address of its own,
# where the configuration's relay servers listen (nginx itself, proxying
# to an emulator).  If those ports cannot be had there (a server on *:80),
# the portless locations are still configured but not asked.
my $RELAY = '127.0.0.' . (100 + int rand 150);
my $relay_ok = !grep {
    !IO::Socket::INET->new(Listen => 1, LocalAddr => "$RELAY:$_",
                           ReuseAddr => 1)
} 80, 443;
note("no relay on $RELAY:80 and :443, portless passes are not asked")
    unless $relay_ok;

# pass => the emulators it may reach
my %reaches = (
    'http://127.0.0.1:%%EMU_plain%%'     => [ 'plain' ],
    'http://127.0.0.1:%%EMU_other%%'     => [ 'other' ],
    'https://127.0.0.1:%%EMU_tls%%'      => [ 'tls' ],
    "http://$LOCALHOST:%%EMU_plain%%"    => [ 'plain' ],
    "http://$LOCALHOST:%%EMU_other%%"    => [ 'other' ],
    "https://$LOCALHOST:%%EMU_tls%%"     => [ 'tls' ],
    "http://$RELAY"                      => [ 'plain' ],
    "https://$RELAY"                     => [ 'other' ],
    'http://ci_plain'                    => [ 'plain' ],
    'http://ci_keep'                     => [ 'other' ],
    'http://ci_pair'                     => [ 'plain', 'other' ],
    'https://ci_tls'                     => [ 'tls' ],
);

# credentials => (directives, the SecretId they sign with)
my %creds = (
    inline1 => [ "ci_jobs_secret_id $ID1; ci_jobs_secret_key $KEY1;", $ID1 ],
    inline2 => [ "ci_jobs_secret_id $ID2; ci_jobs_secret_key $KEY2;", $ID2 ],
    file1   => [ 'ci_jobs_credentials_file %%DIR%%/one.credentials;', $ID1 ],
    file2   => [ 'ci_jobs_credentials_file %%DIR%%/two.json;', $ID2 ],
);

# --- the plan ---------------------------------------------------------------

# Each level (http, server, location, an outer location) is a hash of
# pass, creds, cache, json, apis and other (directives nothing depends
# on); a location's settings are the innermost of each, as nginx merges
# them.  Inline and file credentials never meet in one location (nginx -t
# refuses that).

my %http = (
    pass => 'http://127.0.0.1:%%EMU_other%%',
    cache => 'zone_c',
    other => "ci_jobs_bucket $CiJobsTest::BUCKET;"
           . " ci_jobs_region $CiJobsTest::REGION;"
           . ' ci_jobs_connect_timeout 3s; ci_jobs_read_timeout 5s;'
           . ' ci_jobs_ssl_trusted_certificate %%CA%%;'
           . ' ci_jobs_sign_expires 600s;'
           . ' ci_jobs_json_array JobsDetail NonExistJobIds;',
);

my @ports = ('%%PORT%%', map { CiJobsTest::free_port() } 1 .. 4);

my @servers = (
    {   # inline credentials, an address pass, a zone and JSON for all
        port => $ports[0],
        pass => 'http://127.0.0.1:%%EMU_plain%%',
        creds => 'inline2', cache => 'zone_a', json => 'on',
        other => 'ci_jobs_read_timeout 10s;',
        locations => [
            (map { { name => "inh$_" } } 1 .. 20),
            { name => 'byname', pass => "http://$LOCALHOST:%%EMU_plain%%" },
            { name => 'nocache', cache => 'off' },
            { name => 'xml', json => 'off' },
            { name => 'key1', creds => 'inline1', cache => 'zone_b' },
            { name => 'keep', pass => 'http://ci_keep' },
            { name => 'portless', pass => "http://$RELAY", relay => 1 },
        ],
        plain => [
            'location = /s0/ping { return 200 "pong\n"; }',
            'location /s0/static/ { alias %%DIR%%/html/; }',
            "location /s0/relay/ { proxy_pass http://127.0.0.1:$ports[1]/s1/inh1/; }",
        ],
    },
    {   # a credentials file, a host name pass, JSON when asked
        port => $ports[1],
        pass => "http://$LOCALHOST:%%EMU_other%%",
        creds => 'file1', cache => 'zone_b', json => 'auto',
        other => 'ci_jobs_connect_timeout 2s;',
        locations => [
            (map { { name => "inh$_" } } 1 .. 12),
            { name => 'up', pass => 'http://ci_plain' },
            { name => 'upkeep', pass => 'http://ci_keep', cache => 'zone_a' },
            { name => 'pair', pass => 'http://ci_pair' },
            { name => 'uptls', pass => 'https://ci_tls' },
            { name => 'uptlsnc', pass => 'https://ci_tls', cache => 'off' },
            { name => 'json2', creds => 'file2', json => 'on' },
            { name => 'addr', pass => 'http://127.0.0.1:%%EMU_plain%%',
              cache => 'off' },
        ],
        plain => [
            'location = /s1/health { return 200 "ok s1\n"; }',
            'location /s1/static/ { alias %%DIR%%/html/; }',
        ],
    },
    {   # https to an address, no cache but where a location asks
        port => $ports[2],
        pass => 'https://127.0.0.1:%%EMU_tls%%',
        creds => 'inline1', cache => 'off', json => 'off',
        other => 'ci_jobs_sign_expires 300s;',
        locations => [
            (map { { name => "inh$_" } } 1 .. 20),
            { name => 'tlsname', pass => "https://$LOCALHOST:%%EMU_tls%%" },
            { name => 'tlsup', pass => 'https://ci_tls', cache => 'zone_a' },
            { name => 'portless', pass => "http://$RELAY", relay => 1,
              cache => 'zone_c' },
            { name => 'portlesstls', pass => "https://$RELAY", relay => 1 },
            { name => 'plainaddr', pass => 'http://127.0.0.1:%%EMU_other%%' },
            { name => 'two', apis => 'jobs pic_jobs' },
            { name => 'inner', outer => { json => 'on', cache => 'zone_b' } },
            { name => 'noslash', noslash => 1 },
        ],
        plain => [
            'location = /s2/ping { return 200 "pong s2\n"; }',
        ],
    },
    {   # what http gives (an address pass, zone_c), credentials each
        port => $ports[3],
        locations => [
            (map { { name => "in$_", creds => 'inline1' } } 1 .. 8),
            (map { { name => "file$_", creds => 'file2' } } 1 .. 8),
            { name => 'k2json', creds => 'inline2', json => 'on' },
            { name => 'f1tls', creds => 'file1',
              pass => 'https://127.0.0.1:%%EMU_tls%%' },
            { name => 'f2name', creds => 'file2',
              pass => "http://$LOCALHOST:%%EMU_plain%%", cache => 'zone_a' },
            { name => 'i2pair', creds => 'inline2', pass => 'http://ci_pair',
              json => 'auto' },
            { name => 'f2tlsup', creds => 'file2', pass => 'https://ci_tls' },
        ],
        plain => [
            'location / { return 404; }',
            "location /s3/proxied/ { proxy_pass http://127.0.0.1:$ports[2]/s2/; }",
        ],
    },
    {   # many alike, as generated configurations have them
        port => $ports[4],
        creds => 'inline1',
        locations => [ map { { name => "job$_" } } 1 .. 60 ],
        plain => [],
    },
);

sub directives {
    my ($level) = @_;
    my $d = '';
    $d .= "ci_jobs_pass $level->{pass}; " if $level->{pass};
    $d .= "$creds{ $level->{creds} }[0] " if $level->{creds};
    $d .= "ci_jobs_cache $level->{cache}; " if $level->{cache};
    $d .= "ci_jobs_json $level->{json}; " if $level->{json};
    $d .= "ci_jobs_apis $level->{apis}; " if $level->{apis};
    $d .= "$level->{other} " if $level->{other};
    return $d;
}

my (@gateways, $conf);
my $n = 100;

for my $s (0 .. $#servers) {
    my $srv = $servers[$s];
    my @plain = @{ $srv->{plain} };
    $conf .= "    server {\n        listen 127.0.0.1:$srv->{port} reuseport;\n"
           . '        ' . directives($srv) . "\n";

    for my $loc (@{ $srv->{locations} }) {
        my $path = "/s$s/$loc->{name}" . ($loc->{noslash} ? '' : '/');
        my $block = "location $path { ci_jobs on; " . directives($loc) . '}';
        if (my $outer = $loc->{outer}) {
            $path = "/s$s/outer/$loc->{name}/";
            $block = "location /s$s/outer/ { " . directives($outer)
                   . "location $path { ci_jobs on; " . directives($loc)
                   . '} }';
        }
        $conf .= "        $block\n";
        $conf .= '        ' . shift(@plain) . "\n" if @plain;

        my %eff = map {
            my $k = $_;
            my ($v) = grep { defined } $loc->{$k},
                ($loc->{outer} || {})->{$k}, $srv->{$k}, $http{$k};
            ($k => $v);
        } qw(pass creds cache json apis);
        $eff{cache} = undef if ($eff{cache} // 'off') eq 'off';
        $eff{json} //= 'off';
        push @gateways, { %eff, port => $srv->{port}, path => $path,
                          relay => $loc->{relay}, n => $n++ };
    }
    $conf .= "        $_\n" for @plain;
    $conf .= "    }\n";
}

my $http = <<"EOF";
    log_format large '\$pid \$server_port \$status \$uri';
    access_log %%DIR%%/large.log large;
    add_header X-Cache \$ci_jobs_cache_status always;

    ci_jobs_cache_zone zone_a:1m;
    ci_jobs_cache_zone zone_b:256k;
    ci_jobs_cache_zone zone_c:64k;
    @{[ directives(\%http) ]}

    upstream ci_plain { server 127.0.0.1:%%EMU_plain%%; }
    upstream ci_keep { server 127.0.0.1:%%EMU_other%%; keepalive 8; }
    upstream ci_pair {
        server 127.0.0.1:%%EMU_plain%%;
        server 127.0.0.1:%%EMU_other%%;
        keepalive 4;
    }
    upstream ci_tls { server 127.0.0.1:%%EMU_tls%%; keepalive 4; }

$conf
EOF

# the relays, nginx itself in front of the emulators on ports 80 and 443
$http .= <<"EOF" if $relay_ok;
    server {
        listen $RELAY:80;
        location / {
            proxy_pass http://127.0.0.1:%%EMU_plain%%;
            proxy_set_header Host \$http_host;
        }
    }
    server {
        listen $RELAY:443 ssl;
        ssl_certificate %%DIR%%/tls/good.crt;
        ssl_certificate_key %%DIR%%/tls/good.key;
        location / {
            proxy_pass http://127.0.0.1:%%EMU_other%%;
            proxy_set_header Host \$http_host;
        }
    }
EOF

cmp_ok(scalar @gateways, '>=', 50, scalar(@gateways) . ' gateway locations');

my %emu_secrets = (secrets => [ "$ID2:$KEY2" ]);
my $t = CiJobsTest->new(
    workers => 2,
    secrets => [ $KEY2, $TOKEN ],
    emulators => {
        plain => { %emu_secrets },
        other => { %emu_secrets },
        tls => { tls => 'good', %emu_secrets },
    },
    start => 0,
    http => $http);

my $dir = $t->dir;

sub write_file {
    my ($name, $text) = @_;
    open my $fh, '>', "$dir/$name" or die "$name: $!";
    print $fh $text;
    close $fh;
    chmod 0600, "$dir/$name";
}

write_file('one.credentials', "SecretId=$ID1\nSecretKey=$KEY1\n");
write_file('two.json', qq({"TmpSecretId":"$ID2","TmpSecretKey":"$KEY2",)
                     . qq("ExpiredTime":4102444800,"Token":"$TOKEN",)
                     . qq("Code":"Success"}\n));
mkdir "$dir/html";
write_file('html/hello.txt', "hello, static\n");
chmod 0644, "$dir/html/hello.txt";

# --- nginx -t, then two workers ------------------------------------------------

my ($status, $out) = $t->nginx_test($http);
is($status, 0, 'nginx -t accepts the large configuration') or diag($out);

# A memory error made while reading a configuration shows (to valgrind, or
# as a crash) only where an allocation ends one of nginx's pool blocks,
# which every byte allocated before it decides: the same configuration
# again, with longer ci_jobs_json_array lists, which every gateway
# location allocates while merging, next to its pass's addresses.
for my $k (1 .. 4) {
    my $more = join ' ', map { "NoSuchElement$_" } 1 .. $k;
    ($status, $out) = $t->nginx_test(
        $http =~ s/(ci_jobs_json_array [^;]*)/$1 $more/r);
    is($status, 0, "nginx -t, $k more ci_jobs_json_array names") or diag($out);
}

$t->start_nginx;

my @listen = map { $_ eq '%%PORT%%' ? $t->port : $_ } @ports;
ok(CiJobsTest::wait_for(sub {
    !grep { !IO::Socket::INET->new("127.0.0.1:$_") } @listen
}, 10), 'every server listens');

# nginx's workers: the master's children, from /proc
sub workers {
    my ($t) = @_;
    my $master = CiJobsTest::slurp($t->dir . '/nginx.pid') =~ s/\s+//gr
        or return;
    my @kids;
    for my $stat (glob '/proc/[0-9]*/stat') {
        my $s = CiJobsTest::slurp($stat) or next;
        my ($ppid) = substr($s, rindex($s, ')') + 2) =~ /^\S+ (\d+)/;
        push @kids, $stat =~ m{/proc/(\d+)/} if ($ppid // 0) == $master;
    }
    return sort { $a <=> $b } @kids;
}

my @workers;
CiJobsTest::wait_for(sub { (@workers = workers($t)) == 2 }, 30);
is(scalar @workers, 2, 'two workers') or diag("workers: @workers");

# --- every location ------------------------------------------------------------

sub fetch {
    my ($port, $path, %headers) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port", Timeout => 30)
        or return { status => 0, headers => {}, body => "connect: $!" };
    print $s "GET $path HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
           . join('', map { "$_: $headers{$_}\r\n" } sort keys %headers)
           . "\r\n";
    local $/;
    my $raw = <$s> // '';
    return CiJobsTest::parse_response($raw);
}

my @apis = ([ jobs => 'jobs' ], [ pic_jobs => 'pic' ], [ ai_jobs => 'ai' ],
            [ inventorytriggerjob => 'inv' ]);
my @asked;   # [ location, what, target upstream ], checked at the end

# asks a gateway location for one job (twice where it caches), checks the
# answers; what CI saw is checked once all are asked
sub check_location {
    my ($g, $port, $path, $what) = @_;
    my @mine = $g->{apis} ? grep { $g->{apis} =~ /\b$_->[0]\b/ } @apis
                          : @apis;
    my ($api, $prefix) = @{ $mine[ $g->{n} % @mine ] };
    my $id = "${prefix}Success$g->{n}" . ($path eq $g->{path} ? '' : '0');
    my $json = $g->{json} eq 'on' || ($g->{json} eq 'auto' && $g->{n} % 2);
    my %accept = $g->{json} eq 'auto' && $g->{n} % 2
        ? (Accept => 'application/json') : ();
    my $bad = 0;

    my $base = $path =~ m{/$} ? $path : "$path/";
    my @answers = map { fetch($port, "$base$api/$id", %accept) }
                  1 .. ($g->{cache} ? 2 : 1);
    for my $r (@answers) {
        my $type = $r->{headers}{'content-type'} // '';
        $bad++ unless $r->{status} == 200
            && ($json ? $type eq 'application/json; charset=utf-8'
                        && $r->{body} =~ /^\{"Response":.*"JobId":"$id"/s
                      : $type eq 'application/xml'
                        && $r->{body} =~ m{^<Response>.*<JobId>$id</JobId>}s)
            && $r->{headers}{'x-ci-request-id'};
    }
    my @cache = map { $_->{headers}{'x-cache'} // '' } @answers;
    $bad++ unless "@cache" eq ($g->{cache} ? 'MISS HIT' : '');

    ok(!$bad, "$what: $api/$id, " . ($json ? 'JSON' : 'XML')
              . ($g->{cache} ? ", $g->{cache} MISS then HIT" : ''))
        or diag(explain({ location => $g, answers => [ map { {
            status => $_->{status}, headers => $_->{headers},
            body => substr($_->{body}, 0, 300) } } @answers ] }));
    push @asked, [ $g, $what, "/$api/$id" ];
}

for my $g (@gateways) {
    next if $g->{relay} && !$relay_ok;
    my $port = $g->{port} eq '%%PORT%%' ? $t->port : $g->{port};
    check_location($g, $port, $g->{path}, "127.0.0.1:$port$g->{path}");
}

# a proxy_pass to another server's gateway location, and the ordinary ones
my ($s1inh1) = grep { $_->{path} eq '/s1/inh1/' } @gateways;
check_location($s1inh1, $t->port, '/s0/relay/',
               '/s0/relay/ proxied to /s1/inh1/');

my ($s2inh2) = grep { $_->{path} eq '/s2/inh2/' } @gateways;
check_location($s2inh2, $listen[3], '/s3/proxied/inh2/',
               '/s3/proxied/ proxied to /s2/');

# each asked once upstream, at an emulator its pass leads to, signed right
# with the location's credentials
my %seen;   # target => [ [ emulator, record ] ... ]
for my $emu (qw(plain other tls)) {
    push @{ $seen{ $_->{target} } }, [ $emu, $_ ]
        for $t->upstream_requests($emu);
}

for (@asked) {
    my ($g, $what, $target) = @$_;
    my @got = @{ $seen{$target} || [] };
    my ($ak) = map { /q-ak=([^&;]+)/ } map { $_->[1] }
               grep { lc $_->[0] eq 'authorization' }
               map { @{ $_->[1]{headers} } } @got;
    my %may = map { $_ => 1 } @{ $reaches{ $g->{pass} } };
    ok(@got == 1 && $got[0][1]{signature} eq 'ok' && $may{ $got[0][0] }
       && ($ak // '') eq $creds{ $g->{creds} }[1],
       "$what: upstream saw $target once, at " . join(',', map { $_->[0] } @got)
       . ', signed by ' . ($ak // 'nobody'))
        or diag(explain([ map { { emulator => $_->[0],
                                  signature => $_->[1]{signature} } } @got ]));
}

my $r = fetch($t->port, '/s0/ping');
is("$r->{status} $r->{body}", "200 pong\n", 'return 200 between gateways');
$r = fetch($listen[1], '/s0/static/hello.txt');
is($r->{status}, 404, 'each server its own locations');
$r = fetch($t->port, '/s0/static/hello.txt');
is("$r->{status} $r->{body}", "200 hello, static\n", 'a static file');
$r = fetch($listen[1], '/s1/health');
is("$r->{status} $r->{body}", "200 ok s1\n", 'return 200 in another server');
$r = fetch($listen[3], '/elsewhere');
is($r->{status}, 404, 'return 404 at /');

$r = fetch($listen[2], '/s2/two/ai_jobs/aiSuccess1');
is(CiJobsTest::error_code($r), 'NoSuchApi',
   'ci_jobs_apis: another API is refused');

# --- no worker died ------------------------------------------------------------

my @lines = split /\n/, CiJobsTest::slurp("$dir/large.log");
my %by = map { (split / /)[0] => 1 } grep { m{ /s\d/} } @lines;
is(scalar keys %by, 2, 'both workers served');

# a crash is "exited on signal", or under ASan an exit with its code
my $died = qr/exited on signal|exited with (?:fatal )?code [1-9]/;

sleep 0.2;
unlike($t->error_log, $died, 'no worker exited on a signal or in error');
is_deeply([ workers($t) ], \@workers, 'the same two workers as at start');

$t->done;

# --- a cache zone named like the module's own shared zone ------------------------

# ci_jobs_state is the module's zone for the clock offset.  A configuration
# naming it may be refused, the directive named, or work; a passing
# nginx -t followed by a dead worker is the failure.
for my $case (
    [ 'ci_jobs_state:32k', 'ci_jobs_state', 'the same name and size' ],
    [ 'ci_jobs_state:1m', 'ci_jobs_state', 'the same name, 1m' ],
    [ undef, 'ci_jobs_state', 'ci_jobs_cache alone' ],
) {
    my ($zone, $cache, $what) = @$case;
    my $zconf = ($zone ? "ci_jobs_cache_zone $zone;\n" : '') . <<"EOF";
    server {
        listen 127.0.0.1:%%PORT%%;
        location /ci/ {
            ci_jobs on;
            %%CREDENTIALS%%
            ci_jobs_pass http://127.0.0.1:%%EMU_plain%%;
            ci_jobs_cache $cache;
        }
    }
EOF
    my $z = CiJobsTest->new(start => 0, http => $zconf);
    my ($status, $out) = $z->nginx_test($zconf);

    if ($status != 0) {
        like($out, qr/"ci_jobs_cache(?:_zone)?"/,
             "$what: refused, the directive named") or diag($out);
        next;
    }

    pass("$what: nginx -t accepts it");
    $z->start_nginx;
    my @before;
    CiJobsTest::wait_for(sub { @before = workers($z) }, 30);
    my @status = map {
        my $r = eval { $z->get('/ci/jobs/jobsSuccess1') };
        $r ? "$r->{status}" . ($r->{body} =~ /<JobId>jobsSuccess1</ ? '' : '?')
           : 'none';
    } 1 .. 2;
    is("@status", '200 200', "$what: it works");
    sleep 0.2;
    unlike($z->error_log, $died, "$what: no worker died");
    is_deeply([ workers($z) ], \@before, "$what: the same worker");
    $z->done;
}

note(sprintf 'ran %.1f s', time - $started);
done_testing;
